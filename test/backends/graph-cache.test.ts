import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, writeFile, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxBackend } from '../../src/backends/onnx/backend.js';
import { cachedGraph, graphCacheKey } from '../../src/backends/onnx/graph-cache.js';
import { sampleOffsets } from '../../src/backends/onnx/graph-fingerprint.js';
import { inferenceResultSchema } from '../../src/evaluators/inference/results.js';
import { runBuiltCli } from '../helpers/built-cli.js';
import { canonicalJson } from '../../src/core/canonical-json.js';
import type { Dtype } from '../../src/core/backend.js';
import { defaultCorpus } from '../../src/evaluators/inference/embedded-default.js';
import { PRESETS, generateLlama } from '../../src/models/llama/generate.js';

const tmp = (prefix: string) => mkdtemp(path.join(os.tmpdir(), prefix));

describe('graph cache keys', () => {
  it('do not depend on key order but on every value', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
    const base = { builderVersion: 1, weightsSha256: 'ab', modelConfig: { hidden_size: 64 }, build: { dtype: 'fp32' as Dtype, extra: {} } };
    const key = graphCacheKey(base);
    expect(graphCacheKey({ ...base, build: { extra: {}, dtype: 'fp32' } })).toBe(key);
    expect(graphCacheKey({ ...base, build: { dtype: 'fp16', extra: {} } })).not.toBe(key);
    expect(graphCacheKey({ ...base, weightsSha256: 'ac' })).not.toBe(key);
    expect(graphCacheKey({ ...base, build: { dtype: 'fp32', extra: { fusions: ['rmsnorm'] } } })).not.toBe(key);
  });
});

describe('cachedGraph', () => {
  it('builds once, then hits; a failed build leaves nothing that looks complete', async () => {
    const cacheDir = await tmp('optibench-gc-');
    let builds = 0;
    const build = async (dir: string) => {
      builds++;
      await writeFile(path.join(dir, 'model.onnx'), 'graph');
      return { modelFile: path.join(dir, 'model.onnx'), facts: { n: builds } };
    };
    const first = await cachedGraph(cacheDir, 'k'.repeat(64), build);
    const second = await cachedGraph(cacheDir, 'k'.repeat(64), build);
    expect([first.hit, second.hit, builds]).toEqual([false, true, 1]);
    expect(second.facts).toEqual({ n: 1 });
    expect(await readFile(second.modelFile, 'utf8')).toBe('graph');

    const failing = cachedGraph(cacheDir, 'f'.repeat(64), async (dir) => {
      await writeFile(path.join(dir, 'model.onnx'), 'half a graph');
      throw new Error('killed half-way');
    });
    await expect(failing).rejects.toThrow('killed half-way');
    expect((await readdir(path.join(cacheDir, 'onnx'))).sort()).toEqual(['k'.repeat(24)]);
    const retry = await cachedGraph(cacheDir, 'f'.repeat(64), build);
    expect(retry.hit).toBe(false);
  });
});

describe('the ONNX backend with the cache', () => {
  it('reuses a built graph, and rebuilds when the weights or the build settings change', async () => {
    const work = await tmp('optibench-gcb-');
    const modelDir = path.join(work, 'model');
    const cacheDir = path.join(work, 'cache');
    await generateLlama(modelDir, { shape: PRESETS.tiny, seed: 3, corpus: await defaultCorpus() });
    const load = async (dtype: Dtype) => {
      const backend = new OnnxBackend();
      const info = await backend.load({
        modelDir,
        build: { dtype, extra: {} },
        session: { executionProvider: 'cpu', intraOpThreads: 1, interOpThreads: 1, extra: {} },
        cacheDir,
      });
      await backend.close();
      return info;
    };
    const first = await load('fp32');
    expect(first.cacheHit).toBe(false);
    expect((await load('fp32')).cacheHit).toBe(true);
    expect((await load('fp16')).cacheHit).toBe(false);
    // New weights (another seed) in the same directory: a new hash, so a new graph.
    await generateLlama(modelDir, { shape: PRESETS.tiny, seed: 4, corpus: await defaultCorpus() });
    const rebuilt = await load('fp32');
    expect(rebuilt.cacheHit).toBe(false);
    expect(rebuilt.details.weightsSha256).not.toBe(first.details.weightsSha256);
  });

  it('refuses build and session settings it does not understand, naming them', async () => {
    const work = await tmp('optibench-gcs-');
    const modelDir = path.join(work, 'model');
    await generateLlama(modelDir, { shape: PRESETS.tiny, seed: 3, corpus: await defaultCorpus() });
    const attempt = (build: object, session: object) =>
      new OnnxBackend().load({
        modelDir,
        build: { dtype: 'fp32', extra: {}, ...build },
        session: { executionProvider: 'cpu', intraOpThreads: 1, interOpThreads: 1, extra: {}, ...session },
        cacheDir: path.join(work, 'cache'),
      });
    await expect(attempt({ extra: { torchCompile: true } }, {})).rejects.toThrow('build setting "torchCompile" is not supported by the ONNX LLaMA builder');
    await expect(attempt({ extra: { fusions: { rmsNorm: true, rmsnorm: true } } }, {})).rejects.toThrow(
      'build setting "fusions.rmsnorm" is not supported by the ONNX LLaMA builder (known: rmsNorm, skipRmsNorm, rotary, attention, projections, scoredLogSoftmax)',
    );
    await expect(attempt({}, { extra: { compileMode: 'max' } })).rejects.toThrow('session setting "compileMode" is not supported by the ONNX backend');
  });
});

describe('a damaged cache entry (the CLI, end to end)', () => {
  it('is rebuilt, saying so, when its external data was zeroed at the same size and mtime, and the answers are the undamaged ones', async () => {
    const work = await tmp('optibench-gcd-');
    const cacheDir = path.join(work, 'cache');
    const run = (out: string) => runBuiltCli(['run', '--limit', '6', '--threads', '1', '--no-progress', '-o', out], { cwd: work, cacheDir, timeoutMs: 300_000 });
    const loglikelihoods = async (out: string) => {
      const [id] = await readdir(path.join(work, out));
      const r = inferenceResultSchema.parse(JSON.parse(await readFile(path.join(work, out, id!, 'results.json'), 'utf8')));
      return r.payload.items.map((item) => item.loglikelihoods);
    };
    const first = run('first');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('(graph built now)');
    const [entry] = await readdir(path.join(cacheDir, 'onnx'));
    const data = path.join(cacheDir, 'onnx', entry!, 'model.onnx.data');
    const before = await stat(data);
    // touch -r keeps the nanoseconds a Date would round away.
    const stamp = path.join(work, 'stamp');
    execFileSync('touch', ['-r', data, stamp]);
    await writeFile(data, Buffer.alloc(before.size));
    // The mtime put back too: only the content tells the damage.
    execFileSync('touch', ['-r', stamp, data]);
    expect((await stat(data)).mtimeMs).toBe(before.mtimeMs);

    const second = run('second');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`the cached graph in ${path.join(cacheDir, 'onnx', entry!)} cannot be used (model.onnx.data's content differs from what was built (sampled hash)): rebuilding it`);
    expect(second.stdout).toContain('(graph built now)');
    expect(await loglikelihoods('second')).toEqual(await loglikelihoods('first'));
    // Rebuilt, it is trusted again.
    const third = run('third');
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toContain('(graph from cache)');
    expect(third.stderr).not.toContain('rebuilding');
  });

  it('catches a change the sample misses when the mtime moved, and a changed size', async () => {
    const dir = await tmp('optibench-gcf-');
    let builds = 0;
    const build = async (d: string) => {
      builds++;
      // 8 MiB of non-zero bytes: more blocks than the sample reads.
      await writeFile(path.join(d, 'model.onnx.data'), Buffer.alloc(8 * 2 ** 20, 7));
      await writeFile(path.join(d, 'model.onnx'), 'graph');
      return { modelFile: path.join(d, 'model.onnx'), facts: {} };
    };
    const reasons: string[] = [];
    const load = () => cachedGraph(dir, 'd'.repeat(64), build, (reason) => reasons.push(reason));
    await load();
    const data = path.join(dir, 'onnx', 'd'.repeat(24), 'model.onnx.data');
    const sampled = new Set(sampleOffsets(8 * 2 ** 20).map((offset) => offset / 65536));
    const unsampled = Array.from({ length: 128 }, (_, i) => i).find((block) => !sampled.has(block))!;
    const bytes = await readFile(data);
    bytes[unsampled * 65536 + 5] = 0;
    await writeFile(data, bytes);
    expect((await load()).hit).toBe(false);
    expect(reasons.at(-1)).toContain("model.onnx.data's content differs from what was built (modified after the build)");
    await writeFile(path.join(dir, 'onnx', 'd'.repeat(24), 'model.onnx'), 'graph!');
    expect((await load()).hit).toBe(false);
    expect(reasons.at(-1)).toContain('model.onnx is 6 bytes, 5 when built');
    expect([(await load()).hit, builds]).toEqual([true, 3]);
  });
});
