/**
 * Where optibench's own files are (templates, built-in plugins, embedded data) and where it caches what it
 * builds. Code runs both from `src/` (tests) and `dist/src/` (the CLI), so the package root is found by
 * walking up to optibench's package.json rather than by a fixed relative path.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: { dir: string; version: string } | undefined;

function findPackage(): { dir: string; version: string } {
  if (cachedRoot) return cachedRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'optibench') {
        cachedRoot = { dir, version: typeof pkg.version === 'string' ? pkg.version : 'unknown' };
        return cachedRoot;
      }
    } catch {
      // No (readable) package.json here: keep climbing.
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`optibench's package.json not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The optibench checkout or installed package. */
export function packageRoot(): string {
  return findPackage().dir;
}

export function packageVersion(): string {
  return findPackage().version;
}

/** `$OPTIBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/optibench`, else `~/.cache/optibench`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OPTIBENCH_CACHE_DIR) return path.resolve(env.OPTIBENCH_CACHE_DIR);
  const base = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(base, 'optibench');
}

/**
 * The Python that runs PyTorch work: Debian's /usr/bin/python3 when present (its python3-torch is what CI
 * installs, and a pyenv or venv python3 earlier on PATH usually lacks it), else python3 from PATH.
 */
export function defaultPython(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}
