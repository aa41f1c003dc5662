/**
 * The CLI's small manners, through the built command as a user meets them: a closed stdout, the help texts,
 * flags that mean the same on every verb.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { wantsProgress, wantsProgressLines } from '../../src/core/cli/progress.js';
import { addRunFlags, type RunFlags } from '../../src/evaluators/inference/commands/run-flags.js';
import { REPO_ROOT } from '../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');

let work: string;

function optibench(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, OPTIBENCH_CACHE_DIR: path.join(work, 'cache') } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** One option's help text, its wrapped lines joined. */
function optionHelp(help: string, flag: string): string {
  const lines = help.split('\n');
  // Options start in column 2; their wrapped descriptions are indented further.
  const start = lines.findIndex((l) => new RegExp(`^ {2}(-\\w, )?${flag}\\b`).test(l));
  if (start < 0) throw new Error(`${flag} is not in the help:\n${help}`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => /^ {2}-/.test(l) || l.trim() === '');
  return [lines[start]!, ...rest.slice(0, end < 0 ? rest.length : end)].map((l) => l.trim()).join(' ');
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-polish-'));
});

describe('a reader that closes stdout early', () => {
  it('ends the command quietly with 141, as SIGPIPE would, not with an EPIPE stack trace', async () => {
    // Closing our end before the child writes makes its first write fail with EPIPE every time, where
    // `| head -3` only does when the text outgrows the pipe's buffer.
    const child = spawn(process.execPath, [CLI, 'help', 'run'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(141);
  });
});

describe('--help states the defaults', () => {
  it('run: the config defaults a run uses when neither a flag nor the file sets them', () => {
    const help = optibench(['run', '--help']).stdout;
    // The defaults as the README's config example and the config test state them.
    const expected: Record<string, string> = {
      '--limit': 'every item',
      '--seed': '1234',
      '--batch-size': '8',
      '--repeats': '1',
      '--warmup': '1',
      '--backend': 'onnx',
      '--provider': 'cpu',
      '--dtype': 'fp32',
      '--threads': '0',
      '--output': 'reports',
    };
    for (const [flag, value] of Object.entries(expected)) expect(optionHelp(help, flag)).toContain(`(default: ${value})`);
  });

  it('rerun: the sandbox limits, in the units the flags take', () => {
    const help = optibench(['rerun', '--help']).stdout;
    // 6 h, 320 GiB, 4096 processes, 200 GiB (src/sandbox/limits.ts's re-run defaults, worked out by hand).
    expect(optionHelp(help, '--timeout')).toContain('(default: 21600)');
    expect(optionHelp(help, '--memory-gb')).toContain('(default: 320)');
    expect(optionHelp(help, '--processes')).toContain('(default: 4096)');
    expect(optionHelp(help, '--disk-gb')).toContain('(default: 200)');
    expect(optionHelp(help, '--seed')).toContain('(default: 1234)');
  });

  it('rerun --memory-gb says it is RLIMIT_DATA and not an address-space limit', () => {
    const memory = optionHelp(optibench(['rerun', '--help']).stdout, '--memory-gb');
    expect(memory).toContain('RLIMIT_DATA');
    expect(memory).toMatch(/Not an address-space limit/);
  });

  it('--dtype says fp16 runs on both backends and bf16 on PyTorch only', () => {
    const dtype = optionHelp(optibench(['run', '--help']).stdout, '--dtype');
    expect(dtype).toMatch(/fp16 on both backends/);
    expect(dtype).toMatch(/bf16 on PyTorch only/);
  });

  it('the other verbs: every option with a value has its default shown, or says why it has none', () => {
    const verbs = [['compare'], ['bench'], ['sut', 'check'], ['sut', 'bench'], ['tokenizer', 'bench'], ['compression', 'run'], ['compression', 'bench'], ['compression', 'samples'], ['leaderboard'], ['evaluate']];
    // Options that take a value but have no default: required, or naming something only the user can.
    const noDefault = new Set(['--config', '--db', '--team', '--commit', '--baseline', '--results', '--backends', '--json', '--from', '--tokenizer', '--dataset', '--plugin', '--plugins', '--reference', '--output', '--samples']);
    for (const verb of verbs) {
      const help = optibench([...verb, '--help']).stdout;
      const flags = [...help.matchAll(/^ {2}(?:-\w, )?(--[\w-]+) <[^>]+>/gm)].map((m) => m[1]!);
      for (const flag of flags.filter((f) => !noDefault.has(f))) {
        expect(optionHelp(help, flag), `${verb.join(' ')} ${flag}`).toMatch(/default: /);
      }
    }
  });
});

describe('the plugin flags', () => {
  function parse(args: string[]): RunFlags {
    const command = addRunFlags(new Command('run').exitOverride());
    command.parse(args, { from: 'user' });
    return command.opts<RunFlags>();
  }

  it('--plugin repeated, --plugin a,b and --plugins a,b make one list, in the order given', () => {
    expect(parse(['--plugin', 'a', '--plugin', 'b']).plugin).toEqual(['a', 'b']);
    expect(parse(['--plugins', 'a,b']).plugin).toEqual(['a', 'b']);
    expect(parse(['-p', 'a', '--plugins', 'b, c', '--plugin', 'd']).plugin).toEqual(['a', 'b', 'c', 'd']);
    expect(parse([]).plugin).toBeUndefined();
  });

  it('run, compare and bench all take both spellings', () => {
    for (const verb of ['run', 'compare', 'bench']) {
      for (const flag of ['--plugin', '--plugins']) {
        const { code, stderr } = optibench([verb, flag, 'warp-drive,onnx-session', '--limit', '2', '-o', 'never']);
        expect(code, `${verb} ${flag}`).toBe(1);
        expect(stderr, `${verb} ${flag}`).toMatch(/unknown plugin "warp-drive"/);
      }
    }
  });
});

describe('progress', () => {
  it('is on by default only when stderr is a terminal; --progress and --no-progress decide otherwise', () => {
    expect(wantsProgress({}, true)).toBe(true);
    expect(wantsProgress({}, false)).toBe(false);
    expect(wantsProgress({ progress: true }, false)).toBe(true);
    expect(wantsProgress({ progress: false }, true)).toBe(false);
    // Lines (compression's per-sample results) read well in a log: only --no-progress drops them.
    expect(wantsProgressLines({})).toBe(true);
    expect(wantsProgressLines({ progress: false })).toBe(false);
  });

  it('every long-running verb takes --no-progress and --progress', () => {
    const verbs = [['run'], ['compare'], ['bench'], ['rerun'], ['sut', 'check'], ['sut', 'bench'], ['tokenizer', 'bench'], ['compression', 'run'], ['compression', 'bench'], ['evaluate']];
    for (const verb of verbs) {
      const help = optibench([...verb, '--help']).stdout;
      expect(help, verb.join(' ')).toMatch(/^\s+--no-progress\b/m);
      expect(help, verb.join(' ')).toMatch(/^\s+--progress\b/m);
    }
  });

  it('a run whose stderr is not a terminal draws no bar unless --progress asks for one', () => {
    const quiet = optibench(['run', '--limit', '2', '-o', 'quiet']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toMatch(/\d+\/\d+ requests/);
    const shown = optibench(['run', '--limit', '2', '-o', 'shown', '--progress']);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toMatch(/\d+\/\d+ requests/);
  });
});

describe('optibench schema', () => {
  it('prints the compare, bench, leaderboard and board schemas the README names', () => {
    // The schema ids the README gives for each file.
    const ids: Record<string, string> = { compare: 'optibench/compare', bench: 'optibench/bench', leaderboard: 'optibench/leaderboard', board: 'optibench/board' };
    for (const [which, id] of Object.entries(ids)) {
      const { code, stdout } = optibench(['schema', which]);
      expect(code, which).toBe(0);
      const schema = JSON.parse(stdout) as { properties: { schema: { const: string } } };
      expect(schema.properties.schema.const, which).toBe(id);
    }
  });

  it('--help lists every schema; an unknown one is refused with a suggestion', () => {
    const help = optibench(['schema', '--help']).stdout;
    for (const name of ['config', 'results', 'submission', 'board', 'compare', 'bench', 'leaderboard']) expect(help).toMatch(new RegExp(`^\\s+${name}\\s`, 'm'));
    const typo = optibench(['schema', 'compre']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/unknown schema "compre" \(did you mean "compare"\?\)/);
    const other = optibench(['schema', 'bench', '--evaluator', 'compression']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/the compression evaluator writes no bench file/);
  });
});

describe('optibench plugins', () => {
  it('has a header row, and every column starts where its header does', () => {
    const lines = optibench(['plugins']).stdout.trimEnd().split('\n');
    const header = lines[0]!;
    expect(header).toMatch(/^plugin +version +targets +evaluator +what it does$/);
    const starts = ['version', 'targets', 'evaluator', 'what it does'].map((h) => header.indexOf(h));
    for (const row of lines.slice(1)) {
      for (const start of starts) {
        expect(row[start - 1], row).toBe(' ');
        expect(row[start], row).not.toBe(' ');
      }
    }
  });
});

describe('optibench run --profile-ops', () => {
  it('profiles after the run and prints the shares; refuses a bad count and a backend without a profiler', () => {
    const ok = optibench(['run', '--profile-ops', '3', '-n', '8', '--threads', '1', '-o', 'out']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/profiling 3 batches operator by operator/);
    expect(ok.stdout).toMatch(/^ {2}operators {2}3 batches profiled after 1 warm-up/m);
    expect(ok.stdout).toMatch(/by operator: .*MatMul \d+\.\d %/);
    expect(ok.stdout).toMatch(/by scope: +.*attn \d+\.\d %/);

    const zero = optibench(['run', '--profile-ops', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/expected a whole number of batches from 1 to 256/);

    const torch = optibench(['run', '--backend', 'pytorch', '--profile-ops', '-o', 'out']);
    expect(torch.code).toBe(1);
    expect(torch.stderr).toMatch(/--profile-ops reads ONNX Runtime's profiler: it needs --backend onnx/);
  });
});
