/**
 * The map of src/ as the architecture notes draw it, checked on every import: contracts in src/core import
 * nothing above them; the store, report, leaderboard, sandbox, submissions and CLI know evaluators only through
 * the registry (src/evaluators/index.ts); language-model code knows no evaluator and nothing that records or
 * shows runs; an evaluator imports no other evaluator.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

const SRC = path.join(REPO_ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : /\.ts$/.test(name) && !name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Every relative import of a file (static, type-only and dynamic), as the folder under src/ it lands in. */
function imports(file: string): { spec: string; target: string }[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((spec) => ({ spec, target: path.relative(SRC, path.resolve(path.dirname(file), spec)) }));
}

const top = (relative: string) => relative.split(path.sep)[0]!;
const files = sources(SRC).map((file) => ({ file, rel: path.relative(SRC, file) }));

function violations(filter: (rel: string) => boolean, allowed: (target: string, rel: string) => boolean): string[] {
  return files
    .filter(({ rel }) => filter(rel))
    .flatMap(({ file, rel }) => imports(file).filter(({ target }) => !allowed(target, rel)).map(({ spec }) => `${rel} imports ${spec}`));
}

const LM = ['backends', 'models', 'tasks', 'tokenizers'];
const EVALUATOR_FREE = ['store', 'report', 'leaderboard', 'sandbox', 'submissions', 'cli'];

describe('the layers of src/', () => {
  it('finds the source files and their imports', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(imports(path.join(SRC, 'cli/main.ts')).some(({ target }) => target === 'evaluators/index.js')).toBe(true);
  });

  it('src/core imports nothing above it', () => {
    expect(violations((rel) => top(rel) === 'core', (target) => top(target) === 'core')).toEqual([]);
  });

  it('the store, report, leaderboard, sandbox, submissions and CLI know evaluators only through the registry', () => {
    expect(violations((rel) => EVALUATOR_FREE.includes(top(rel)), (target) => top(target) !== 'evaluators' || target === path.join('evaluators', 'index.js'))).toEqual([]);
  });

  it('language-model code imports no evaluator and nothing that records, shows or runs submissions', () => {
    expect(violations((rel) => LM.includes(top(rel)), (target) => top(target) === 'core' || LM.includes(top(target)))).toEqual([]);
  });

  it('an evaluator imports no other evaluator', () => {
    const evaluatorOf = (rel: string) => (top(rel) === 'evaluators' ? rel.split(path.sep)[1] : undefined);
    expect(
      violations(
        (rel) => evaluatorOf(rel) !== undefined && evaluatorOf(rel) !== 'index.ts',
        (target, rel) => top(target) !== 'evaluators' || evaluatorOf(target) === evaluatorOf(rel),
      ),
    ).toEqual([]);
  });
});
