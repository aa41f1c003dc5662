/**
 * The SUT protocol against optibench's own backends: `optibench serve` on a config answers the harness with
 * the log-likelihoods the same config computes in process (ONNX Runtime with every ONNX plugin, the PyTorch
 * worker), within 1e-5 in fp32; a plugin that prints to stdout cannot corrupt the protocol; `optibench sut
 * check` says why a SUT that does not speak the protocol fails.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/evaluators/inference/config.js';
import { defaultDatasetPath, ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { selectItems, type SelectedItems } from '../../src/evaluators/inference/rerun/items.js';
import type { InferenceResult } from '../../src/evaluators/inference/results.js';
import { runEvaluation } from '../../src/evaluators/inference/runner.js';
import { serveCommand } from '../../src/evaluators/inference/sut/local.js';
import { measureLocalSut } from '../../src/evaluators/inference/sut/measure-local.js';
import { PYTHON } from '../helpers/python.js';
import { optibench } from '../store/helpers.js';

const LIMIT = 16;
const SEED = 1234;
let root: string;
let cache: string;
let model: string;
let items: SelectedItems;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-serve-'));
  cache = path.join(root, 'cache');
  model = await ensureDefaultModel(cache);
  items = await selectItems(defaultDatasetPath(), LIMIT, SEED);
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function served(configText: string, name: string): Promise<{ sut: InferenceResult; inProcess: InferenceResult }> {
  const file = path.join(root, `${name}.yaml`);
  await writeFile(file, configText);
  const outcome = await measureLocalSut({ command: serveCommand(file), items, limit: LIMIT, seed: SEED, modelDir: model, cacheDir: cache, form: 'config', session: { passes: 2, warmupItems: 4 } });
  if (!outcome.ok) throw new Error(`${outcome.error}\n${outcome.stderrTail}`);
  const { config } = await loadConfig(file, { model, limit: LIMIT, seed: SEED, cacheDir: cache, outputDir: path.join(root, 'out') });
  return { sut: outcome.results, inProcess: await runEvaluation(config) };
}

/**
 * `perToken`: the tolerance is per continuation token. A plugin that lays an item's endings out in the order they
 * come (the prefix tree) sums attention in another order when a pass permutes the endings: fp32 rounding of the
 * same values, up to ~1.5e-5 on a sum of ~30 token log-probs.
 */
function expectSameAnswers(sut: InferenceResult, inProcess: InferenceResult, tolerance: number, perToken = false): void {
  const reference = new Map(inProcess.payload.items.map((item) => [item.index, item]));
  expect(sut.payload.items.map((i) => i.index)).toEqual([...reference.keys()].sort((a, b) => a - b));
  let worst = 0;
  for (const item of sut.payload.items) {
    const expected = reference.get(item.index)!;
    item.loglikelihoods.forEach((ll, k) => (worst = Math.max(worst, Math.abs(ll - expected.loglikelihoods[k]!) / (perToken ? item.continuationTokens[k]! : 1))));
    expect(item.isGreedy).toEqual(expected.isGreedy);
    expect(item.predictions).toEqual(expected.predictions);
    expect(item.gold).toBe(expected.gold);
  }
  expect(worst).toBeLessThanOrEqual(tolerance);
  expect(sut.metrics).toEqual(inProcess.metrics);
}

describe('optibench serve answers as the same config does in process (fp32, within 1e-5)', () => {
  it('ONNX Runtime, no plugins', async () => {
    const { sut, inProcess } = await served('batchSize: 4\n', 'plain');
    expectSameAnswers(sut, inProcess, 1e-5);
    expect(sut.payload.sut).toMatchObject({ form: 'config', name: 'optibench-serve', passes: 2, timedBy: 'organizer' });
    expect(sut.payload.sut!.agreement.maxAbsDiff).toBeLessThanOrEqual(1e-5);
  }, 120_000);

  it('ONNX Runtime with kernel fusion, prefix sharing and head pruning (within 1e-5 per continuation token)', async () => {
    const { sut, inProcess } = await served('batchSize: 8\nplugins: [kernel-fusion, prefix-sharing, head-pruning]\n', 'all');
    expectSameAnswers(sut, inProcess, 1e-5, true);
    const plugins = (sut.payload.sut!.reported as { hello: { plugins: { name: string }[] } }).hello.plugins.map((p) => p.name);
    expect(plugins).toEqual(['kernel-fusion', 'prefix-sharing', 'head-pruning']);
  }, 180_000);

  it(`the PyTorch worker (${PYTHON})`, async () => {
    const { sut, inProcess } = await served(`batchSize: 4\nbackend:\n  name: pytorch\n  python: ${PYTHON}\n`, 'pytorch');
    expectSameAnswers(sut, inProcess, 1e-5);
  }, 180_000);

  it('keeps stdout for the protocol: a plugin that prints there is heard on stderr', async () => {
    const plugin = path.join(root, 'chatty.mjs');
    await writeFile(
      plugin,
      `console.log('chatty plugin loaded');
export default { name: 'chatty', version: '1.0.0', description: 'prints', appliesTo: { evaluator: 'inference' },
  create() { return { schedule: ({ batches }) => { console.log('scheduling', batches.length, 'batches'); process.stdout.write('raw write\\n'); return batches.map((b) => [...b]); } }; } };
`,
    );
    const { sut, inProcess } = await served(`batchSize: 4\nplugins: [${plugin}]\n`, 'chatty');
    expectSameAnswers(sut, inProcess, 1e-5);
  }, 120_000);
});

describe('optibench sut check', () => {
  it('passes a config and prints what the harness measured', () => {
    const config = path.join(root, 'check.yaml');
    return writeFile(config, 'batchSize: 4\n').then(() => {
      const run = optibench(['sut', 'check', '-c', config, '--limit', '8'], root, cache);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^SUT "optibench-serve" \(config\): 8 items, 32 requests, timed by the harness$/m);
      expect(run.stdout).toMatch(/^ {2}acc_norm {3}\d+\.\d\d ± \d+\.\d\d %$/m);
    });
  }, 120_000);

  it('fails a program that does not speak the protocol, saying why, exit 3', () => {
    const run = optibench(['sut', 'check', '--limit', '4', '--', '/bin/echo', 'ready'], root, cache);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('optibench: error: the SUT failed the check: the SUT wrote a line that is not a protocol message (not JSON): "ready"');
  }, 60_000);

  it('sut bench: the same config in process and served, alternating rounds, and the protocol alone', async () => {
    const config = path.join(root, 'bench.yaml');
    await writeFile(config, 'batchSize: 4\n');
    const run = optibench(['sut', 'bench', '-c', config, '--limit', '8', '--passes', '2', '--rounds', '2', '--warmup-items', '2', '--json'], root, cache);
    expect(run.code).toBe(0);
    const figures = JSON.parse(run.stdout) as { rounds: { inProcessMs: number; servedMs: number; servedOverInProcess: number }[]; noModelMedianMs: number; servedMedianMs: number; protocolShareOfServed: number; sameMetrics: boolean };
    expect(figures.rounds).toHaveLength(2);
    for (const r of figures.rounds) expect(r.servedOverInProcess).toBeCloseTo(r.servedMs / r.inProcessMs, 12);
    // Answering without a model costs less than running it, on the same requests.
    expect(figures.noModelMedianMs).toBeLessThan(figures.servedMedianMs);
    expect(figures.protocolShareOfServed).toBeCloseTo(figures.noModelMedianMs / figures.servedMedianMs, 12);
    expect(figures.sameMetrics).toBe(true);
  }, 180_000);

  it('needs exactly one SUT: a command or -c', () => {
    const run = optibench(['sut', 'check'], root, cache);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('give the SUT to check: a command after -- , or -c <config>');
  });
});
