/**
 * The `optibench` command as a user runs it: the built CLI in a child process, real files, exit codes.
 * `npm test` builds dist/ first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { inferenceResultSchema, type InferenceResult } from '../../src/evaluators/inference/results.js';
import { loadTokenizer } from '../../src/tokenizers/tokenizer.js';
import { HELLASWAG_FULL, LLAMA_TOKENIZER_MODEL, REPO_ROOT, sharedFile } from '../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
let work: string;
let cacheDir: string;

function optibench(args: string[], options: { cwd?: string } = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? work,
    encoding: 'utf8',
    env: { ...process.env, OPTIBENCH_CACHE_DIR: cacheDir },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function runDirs(output: string): Promise<string[]> {
  return existsSync(output) ? readdir(output) : [];
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-cli-'));
  cacheDir = path.join(work, 'cache');
});

describe('optibench run on the embedded default', () => {
  let results: InferenceResult;
  let runDir: string;

  beforeAll(() => {
    const { code, stdout, stderr } = optibench(['run', '--limit', '12', '--repeats', '2', '-o', 'out']);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/acc_norm +\d+\.\d\d ± \d+\.\d\d % {3}\(headline\)/);
    expect(stdout).toMatch(/inference .* \(median of 2\)/);
  });

  it('writes a valid results.json and an HTML report under out/<run-id>/', async () => {
    const [id] = await runDirs(path.join(work, 'out'));
    runDir = path.join(work, 'out', id!);
    expect((await readdir(runDir)).sort()).toEqual(['index.html', 'results.json']);
    results = inferenceResultSchema.parse(JSON.parse(await readFile(path.join(runDir, 'results.json'), 'utf8')));
    expect(results.status).toBe('complete');
    expect(results.payload.items).toHaveLength(12);
    expect(results.payload.task.dataset).toMatchObject({ totalDocs: 40, selectedDocs: 12, limit: 12 });
    expect(results.timings.inference.repeats).toHaveLength(2);
    expect(results.payload.repeatMaxAbsDiff).toBe(0);
    expect(results.environment.versions.onnxruntime).toMatch(/^\d+\.\d+\.\d+/);
    const html = await readFile(path.join(runDir, 'index.html'), 'utf8');
    expect(html).toContain(results.runId);
  });

  it('rescore recomputes the same metrics from the stored log-likelihoods', () => {
    const { code, stdout } = optibench(['rescore', path.join(runDir, 'results.json')]);
    expect(code).toBe(0);
    expect(stdout).toContain('consistent: the stored metrics follow from the stored log-likelihoods');
  });

  it('rescore catches stored metrics that do not follow from the log-likelihoods', async () => {
    const tampered = structuredClone(results);
    // Make the gold choice of item 0 win acc by a mile: the stored acc no longer matches.
    const item = tampered.payload.items[0]!;
    item.loglikelihoods[item.gold] = 1000;
    const file = path.join(work, 'tampered.json');
    await writeFile(file, JSON.stringify(tampered));
    const { code, stdout } = optibench(['rescore', file, '--json']);
    expect(code).toBe(4);
    const report = JSON.parse(stdout) as { consistent: boolean; changedPredictions: Record<string, number> };
    expect(report.consistent).toBe(false);
    expect(report.changedPredictions.acc ?? 0).toBeLessThanOrEqual(1);
  });
});

describe('bad input: one line, non-zero exit, nothing written', () => {
  async function expectRefused(args: string[], pattern: RegExp, cwd?: string): Promise<void> {
    const output = path.join(work, `refused-${Math.random().toString(36).slice(2)}`);
    const { code, stdout, stderr } = optibench([...args, '-o', output], { cwd });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const lines = stderr.split('\n').filter((l) => l.startsWith('optibench: error:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await runDirs(output)).toEqual([]);
  }

  it('a missing model directory', () =>
    expectRefused(['run', '--model', '/nonexistent/llama'], /\/nonexistent\/llama\/config.json: model directory or its config.json does not exist/));

  it('a corrupt safetensors header', async () => {
    const model = path.join(work, 'corrupt-model');
    await cp(await ensureDefaultModel(cacheDir), model, { recursive: true });
    const weights = path.join(model, 'model.safetensors');
    const bytes = await readFile(weights);
    bytes.fill(0xff, 8, 24); // the header's first 16 bytes become garbage
    await writeFile(weights, bytes);
    await expectRefused(['run', '--model', model], /model.safetensors: corrupt safetensors file: header is not valid JSON/);
  });

  it('a truncated dataset, naming the line the incomplete item starts on', async () => {
    const lines = (await readFile(path.join(REPO_ROOT, 'datasets/tiny-hellaswag/hellaswag_tiny_val.jsonl'), 'utf8')).split('\n');
    const file = path.join(work, 'truncated.jsonl');
    await writeFile(file, `${lines.slice(0, 3).join('\n')}\n${lines[3]!.slice(0, 50)}`);
    await expectRefused(['run', '--dataset', file], new RegExp(`${file}:4: `));
  });

  it('an unknown plugin', () => expectRefused(['run', '--plugin', 'warp-drive'], /unknown plugin "warp-drive": not a built-in plugin/));

  it('an invalid config file', async () => {
    const file = path.join(work, 'bad.yaml');
    await writeFile(file, 'limit: 5\nbatchSize: -2\n');
    await expectRefused(['run', '--config', file], new RegExp(`${file}:2: batchSize: Too small`));
  });

  it('a bad flag value is a usage error', () => {
    const { code, stderr } = optibench(['run', '--limit', 'ten']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/option '-n, --limit <n>' argument 'ten' is invalid. expected a positive integer/);
  });
});

describe('help and the other commands', () => {
  it('--help lists the commands and run --help its flags', () => {
    const top = optibench(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['run', 'rescore', 'generate-model', 'schema', 'plugins', 'tokenizer']) expect(top.stdout).toContain(command);
    const run = optibench(['run', '--help']);
    expect(run.code).toBe(0);
    for (const flag of ['--config', '--model', '--dataset', '--plugin', '--limit', '--repeats', '--output']) expect(run.stdout).toContain(flag);
  });

  it('plugins lists the built-ins; schema prints the committed config schema', async () => {
    expect(optibench(['plugins']).stdout).toMatch(/^onnx-session +1\.0\.0 +\[onnx\]/m);
    const committed = JSON.parse(await readFile(path.join(REPO_ROOT, 'src/evaluators/inference/config.schema.json'), 'utf8')) as unknown;
    expect(JSON.parse(optibench(['schema', 'config']).stdout)).toEqual(committed);
  });
});

describe('a run interrupted part-way', () => {
  it('saves the finished items as results.incomplete.json, exits 3, and writes no results.json', async () => {
    const output = path.join(work, 'interrupted');
    // Every item at one request a batch (40,168 requests): many seconds of measuring even on a fast machine.
    const child = spawn(process.execPath, [CLI, 'run', '--dataset', sharedFile(HELLASWAG_FULL), '--batch-size', '1', '--progress', '-o', output], {
      cwd: work,
      env: { ...process.env, OPTIBENCH_CACHE_DIR: cacheDir },
    });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // Interrupt a second into the measured pass. (Not on a bar showing answered requests: without a terminal
      // the bar is redrawn only now and then, and a fast machine finished 6,000 requests before its first redraw.)
      if (!sent && /requests \| measuring/.test(stderr)) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 1000);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(sent).toBe(true);
    expect(code).toBe(3);
    expect(stderr).toMatch(/the run stopped: interrupted by the user/);
    const [id] = await readdir(output);
    const files = (await readdir(path.join(output, id!))).sort();
    expect(files).toEqual(['index.html', 'results.incomplete.json']);
    const partial = inferenceResultSchema.parse(JSON.parse(await readFile(path.join(output, id!, 'results.incomplete.json'), 'utf8')));
    expect(partial.status).toBe('incomplete');
    expect(partial.payload.items.length).toBeGreaterThan(0);
    expect(partial.payload.items.length).toBeLessThan(10042);
    expect(await readFile(path.join(output, id!, 'index.html'), 'utf8')).toMatch(/incomplete/i);
    // Rescoring works on what was saved.
    expect(optibench(['rescore', path.join(output, id!, 'results.incomplete.json')]).code).toBe(0);
  });
});

describe('SentencePiece tokenizers', () => {
  it('a model directory with only tokenizer.model (as Meta ships LLaMA) runs end to end', async () => {
    const model = path.join(work, 'sp-model');
    const generated = optibench(['generate-model', model, '--sentencepiece', sharedFile(LLAMA_TOKENIZER_MODEL)]);
    expect(generated.code).toBe(0);
    expect((await readdir(model)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.model']);
    const output = path.join(work, 'sp-run');
    const { code, stderr } = optibench(['run', '--model', model, '--dataset', sharedFile(HELLASWAG_FULL), '--limit', '6', '-o', output]);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    const [id] = await readdir(output);
    const results = inferenceResultSchema.parse(JSON.parse(await readFile(path.join(output, id!, 'results.json'), 'utf8')));
    expect(results.payload.model.config.vocab_size).toBe(32_000);
    expect(results.payload.items).toHaveLength(6);
  });

  it('tokenizer convert writes a tokenizer.json that loads and encodes as sentencepiece does', async () => {
    const dir = path.join(work, 'converted');
    const { code, stdout } = optibench(['tokenizer', 'convert', sharedFile(LLAMA_TOKENIZER_MODEL), '-o', path.join(dir, 'tokenizer.json')]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/32000 pieces, \d+ merges/);
    const tokenizer = await loadTokenizer(dir);
    const text = 'Roof shingle removal: A man is sitting on a roof. he is using wrap';
    expect(tokenizer.encode(text)).toEqual([1, 1528, 974, 528, 292, 280, 28744, 29901, 319, 767, 338, 16246, 373, 263, 17526, 29889, 540, 338, 773, 12244]);
  });

  it('tokenizer bench times both tokenizers on the same strings and checks their ids agree', async () => {
    const json = path.join(work, 'tokenizer-bench.json');
    const { code, stdout } = optibench([
      'tokenizer', 'bench', '-t', sharedFile(LLAMA_TOKENIZER_MODEL), '-d', sharedFile(HELLASWAG_FULL), '--limit', '20', '--repeats', '1', '--json', json,
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain('identical ids           180 of 180 strings');
    const figures = JSON.parse(await readFile(json, 'utf8')) as { strings: number; equal: number; optibench: { tokensPerSecond: number }; sentencepiece: { tokensPerSecond: number } };
    expect(figures).toMatchObject({ strings: 180, equal: 180 });
    expect(figures.optibench.tokensPerSecond).toBeGreaterThan(0);
    expect(figures.sentencepiece.tokensPerSecond).toBeGreaterThan(0);
  });
});
