/**
 * The PyTorch backend end to end through the CLI (from source), beside the ONNX backend on the same items:
 * `optibench run --backend pytorch`, its plugins (prefix-sharing, torch-compile, torch-quantization,
 * tensor-parallel) and `optibench compare --backends onnx,pytorch`.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { inferenceResultSchema, type InferenceResult } from '../../src/evaluators/inference/results.js';
import { compareFileSchema } from '../../src/evaluators/inference/compare-schema.js';
import { pythonJson } from '../helpers/python.js';
import { optibench, tempDir } from './helpers.js';

let work: string;
let cacheDir: string;

beforeAll(async () => {
  work = await tempDir('optibench-pt-cli-');
  cacheDir = path.join(work, 'cache');
  await ensureDefaultModel(cacheDir);
});

/** Runs `optibench run` into a fresh output folder and returns its results. */
async function run(name: string, args: string[]): Promise<{ results: InferenceResult; stdout: string }> {
  const out = path.join(work, name);
  const { code, stdout, stderr } = optibench(['run', '-o', out, '--no-progress', ...args], work, cacheDir);
  expect(stderr).not.toMatch(/error/);
  expect(code).toBe(0);
  const [id] = await readdir(out);
  return { results: inferenceResultSchema.parse(JSON.parse(await readFile(path.join(out, id!, 'results.json'), 'utf8'))), stdout };
}

function maxLoglikelihoodDiff(a: InferenceResult, b: InferenceResult): number {
  return Math.max(...a.payload.items.flatMap((item, i) => item.loglikelihoods.map((x, c) => Math.abs(x - b.payload.items[i]!.loglikelihoods[c]!))));
}

async function configFile(name: string, yaml: string): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, yaml);
  return file;
}

const torchVersion = () => pythonJson<string>('import json, torch; print(json.dumps(torch.__version__))');

describe('optibench run --backend pytorch', () => {
  let onnx: InferenceResult;

  beforeAll(async () => {
    onnx = (await run('onnx', ['--limit', '8'])).results;
  });

  it('writes results like the ONNX run: same items, same predictions and metrics, log-likelihoods within 1e-4', async () => {
    const { results, stdout } = await run('pytorch', ['--backend', 'pytorch', '--limit', '8']);
    expect(stdout).toMatch(/hellaswag, 8 of 40 items \(seeded subset: limit 8, seed 1234\), pytorch \(cpu, fp32\)/);
    expect(stdout).toMatch(/acc_norm +\d+\.\d\d ± \d+\.\d\d % {3}\(headline\)/);
    expect(results.status).toBe('complete');
    expect(results.payload.backend.name).toBe('pytorch');
    expect(results.payload.backend.load).toMatchObject({ implementation: 'builtin', workerProtocol: 1, dtype: 'fp32', device: 'cpu' });
    expect(results.payload.backend.session.extra).toMatchObject({ workerTimeoutSeconds: 600 });
    expect(results.payload.model.weightsSha256).toBe(onnx.payload.model.weightsSha256);
    expect(results.payload.items.map((i) => i.index)).toEqual(onnx.payload.items.map((i) => i.index));
    expect(results.payload.items.map((i) => i.predictions)).toEqual(onnx.payload.items.map((i) => i.predictions));
    expect(results.metrics).toEqual(onnx.metrics);
    expect(maxLoglikelihoodDiff(onnx, results)).toBeLessThan(1e-4);
    expect(results.payload.throughput.tokensThroughModel).toBe(onnx.payload.throughput.tokensThroughModel);
    // The headline's peak RSS is the worker's, where the model ran; ONNX Runtime runs inside optibench.
    const worker = results.payload.workerPeakRssBytes!;
    expect(worker).toBeGreaterThan(0);
    expect(worker).not.toBe(results.payload.peakRssBytes);
    expect(stdout).toMatch(new RegExp(`peak RSS ${(worker / 2 ** 20).toFixed(1)} MiB \\(the pytorch worker; optibench itself \\d+\\.\\d MiB\\)`));
    expect(onnx.payload.workerPeakRssBytes).toBeUndefined();
  });

  it('with prefix-sharing (a tree, one pass): same predictions in fewer positions', async () => {
    const { results } = await run('pytorch-tree', ['--backend', 'pytorch', '--limit', '8', '--plugin', 'prefix-sharing']);
    expect(results.payload.backend.build).toMatchObject({ extra: { treeMask: true } });
    expect(results.payload.items.map((i) => i.predictions)).toEqual(onnx.payload.items.map((i) => i.predictions));
    expect(maxLoglikelihoodDiff(onnx, results)).toBeLessThan(1e-4);
    expect(results.payload.throughput.tokensThroughModel).toBeLessThan(0.6 * onnx.payload.throughput.tokensThroughModel);
  });

  it('with tensor-parallel (2 ranks on the CPU): same predictions', async () => {
    const { results } = await run('pytorch-tp', ['--backend', 'pytorch', '--limit', '8', '--plugin', 'tensor-parallel']);
    expect(results.payload.backend.load).toMatchObject({ tensorParallel: { ranks: 2, embeddings: 'replicated', backend: 'gloo' } });
    expect((results.payload.backend.load.weightBytes as number[]).length).toBe(2);
    expect(results.payload.items.map((i) => i.predictions)).toEqual(onnx.payload.items.map((i) => i.predictions));
    expect(maxLoglikelihoodDiff(onnx, results)).toBeLessThan(1e-4);
  });

  it('with torch-quantization (int8 dynamic on the CPU): every linear layer in int8, log-likelihoods near fp32', async () => {
    const { results } = await run('pytorch-int8', ['--backend', 'pytorch', '--limit', '8', '--plugin', 'torch-quantization']);
    expect(results.payload.backend.load).toMatchObject({ quantization: { method: 'int8-dynamic', lmHead: false } });
    // The 7 linear layers of each of the 2 layers hold int8 weights (1 byte instead of 4); the embeddings,
    // norms and the LM head stay fp32. fp32, the whole model is 625,920 bytes.
    const linearWeights = 2 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 64 * 172); // q, o; k, v; gate, up, down
    expect((results.payload.backend.load.weightBytes as number[])[0]).toBe(625920 - 3 * linearWeights);
    expect(maxLoglikelihoodDiff(onnx, results)).toBeGreaterThan(1e-4);
    expect(maxLoglikelihoodDiff(onnx, results)).toBeLessThan(2);
  });

  it('torch-compile: refused with the reason on PyTorch < 2.0', async () => {
    const version = torchVersion();
    const { code, stderr } = optibench(['run', '--backend', 'pytorch', '--limit', '2', '--plugin', 'torch-compile', '-o', path.join(work, 'compile')], work, cacheDir);
    if (Number(version.split('.')[0]) >= 2) {
      expect(code).toBe(0);
      return;
    }
    expect(code).toBe(1);
    expect(stderr).toContain(`optibench: error: the PyTorch worker (/usr/bin/python3) could not load the model: torch-compile needs PyTorch >= 2.0; this worker has ${version}\n`);
  });

  it('refuses what a plugin cannot do on this backend before the run, with the reason', async () => {
    const kv = await configFile('kv.yaml', 'backend: { name: pytorch }\nplugins:\n  - name: prefix-sharing\n    options: { method: kv-cache }\n');
    let r = optibench(['run', '-c', kv, '--limit', '2'], work, cacheDir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('prefix-sharing method "kv-cache" needs the ONNX graph\'s key/value cache; the PyTorch backend shares prefixes as a tree');
    r = optibench(['run', '--backend', 'pytorch', '--provider', 'cuda', '--plugin', 'torch-quantization', '--limit', '2'], work, cacheDir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('torch-quantization (int8-dynamic) runs on the CPU only');
    r = optibench(['run', '--plugin', 'torch-compile', '--limit', '2'], work, cacheDir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('plugin "torch-compile" supports the pytorch backend, not onnx');
  });
});

describe('optibench compare --backends onnx,pytorch', () => {
  it('runs both backends on the same items and reports their agreement besides the gate', async () => {
    const out = path.join(work, 'agree');
    const { code, stdout, stderr } = optibench(['compare', '--backends', 'onnx,pytorch', '--limit', '8', '-o', out], work, cacheDir);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/agreement {2}onnx vs pytorch: largest log-likelihood difference \d\.\d\de-\d+ \(mean .*, 32 requests\) · same prediction: acc 100\.00 %, acc_norm 100\.00 %/);
    // Each side names the backend that ran it, not just its (empty) plugin list.
    expect(stdout).toMatch(/^ {2}baseline {3}onnx \(cpu, fp32\) · no plugins · inference /m);
    expect(stdout).toMatch(/^ {2}candidate {2}pytorch \(cpu, fp32\) · no plugins · inference /m);
    const [id] = await readdir(out);
    const compare = compareFileSchema.parse(JSON.parse(await readFile(path.join(out, id!, 'compare.json'), 'utf8')));
    expect(compare.agreement).toMatchObject({ backends: ['onnx', 'pytorch'], requests: 32, samePrediction: { acc: 1, acc_norm: 1 }, sameGreedy: 1 });
    expect(compare.agreement!.maxLoglikelihoodDiff).toBeLessThan(1e-4);
    expect([compare.baseline.backend, compare.candidate.backend]).toEqual(['onnx (cpu, fp32)', 'pytorch (cpu, fp32)']);
    expect(compare.verdict.pass).toBe(true);
  });

  it('refuses a pair that is not two different backends, or with --baseline', () => {
    for (const args of [['--backends', 'onnx,onnx'], ['--backends', 'onnx'], ['--backends', 'onnx,tensorflow'], ['--backends', 'onnx,pytorch', '--baseline', 'x.yaml']]) {
      const { code, stderr } = optibench(['compare', ...args, '--limit', '2'], work, cacheDir);
      expect(code).toBe(2);
      expect(stderr).toMatch(/error: --backends (takes two different backends|runs one config on each backend)/);
    }
  });
});
