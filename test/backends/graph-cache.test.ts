import { mkdtemp, readdir, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxBackend } from '../../src/backends/onnx/backend.js';
import { cachedGraph, graphCacheKey } from '../../src/backends/onnx/graph-cache.js';
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
      'build setting "fusions.rmsnorm" is not supported by the ONNX LLaMA builder (known: rmsNorm, skipRmsNorm, rotary, attention, projections)',
    );
    await expect(attempt({}, { extra: { compileMode: 'max' } })).rejects.toThrow('session setting "compileMode" is not supported by the ONNX backend');
  });
});
