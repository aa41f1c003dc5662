/**
 * generate-model's custom shapes and byte-sized shards, and `optibench model-scale`: the measurement of a
 * small sharded bf16 model (its probe scored as the PyTorch reference scores it, its disk figures as the
 * files are) and the least-squares fit (against numpy).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byteSize } from '../../../src/core/cli/options.js';
import { LLAMA_30B_TARGET, fitLine, fitScale } from '../../../src/evaluators/inference/scale/fit.js';
import type { ScaleMeasurement } from '../../../src/evaluators/inference/scale/measure.js';
import { pythonJson, runPython } from '../../helpers/python.js';
import { REPO_ROOT } from '../../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

let work: string;
beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-scale-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('byte sizes', () => {
  it('reads decimal and binary units as Hugging Face and the IEC spell them, and refuses the rest', () => {
    expect(byteSize('2GB')).toBe(2_000_000_000);
    expect(byteSize('1.5gb')).toBe(1_500_000_000);
    expect(byteSize('512MiB')).toBe(536_870_912);
    expect(byteSize('100')).toBe(100);
    for (const bad of ['', 'GB', '2 TB', '-1MB', '0', 'two']) expect(() => byteSize(bad)).toThrow(/expected a size/);
  });
});

describe('generate-model with a custom shape and --shard-size', () => {
  it('writes the shape asked for, in shards of at most the size (a larger tensor alone), listed by the index', async () => {
    const dir = path.join(work, 'model');
    const made = cli('generate-model', dir, '--hidden', '96', '--intermediate', '256', '--layers', '3', '--vocab', '1000', '--dtype', 'bf16', '--shard-size', '60KB');
    expect(made.stderr).toBe('');
    // 3 x (4 x 96^2 + 3 x 96 x 256 + 2 x 96) + 2 x 1000 x 96 + 96 parameters, by hand.
    expect(made.stdout).toBe(`wrote a tiny LLaMA to ${dir} (0.5M parameters)\n`);
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ hidden_size: 96, intermediate_size: 256, num_hidden_layers: 3, vocab_size: 1000, num_attention_heads: 6, torch_dtype: 'bfloat16' });
    const index = JSON.parse(await readFile(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    const shards = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
    expect(new Set(Object.values(index.weight_map))).toEqual(new Set(shards));
    // Read by a reader of its own: every shard's tensors, bytes and the limit (one 192,000-byte embedding is over it).
    const sizes = pythonJson<Array<{ file: string; tensors: number; data: number; dtypes: string[] }>>(`
import json, struct, os
out = []
for name in ${JSON.stringify(shards)}:
    with open(os.path.join(${JSON.stringify(dir)}, name), 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        h = json.loads(f.read(n)); h.pop('__metadata__', None)
    out.append({'file': name, 'tensors': len(h), 'data': sum(v['data_offsets'][1] - v['data_offsets'][0] for v in h.values()), 'dtypes': sorted(set(v['dtype'] for v in h.values()))})
print(json.dumps(out))`);
    expect(sizes.length).toBeGreaterThan(3);
    for (const s of sizes) {
      expect(s.dtypes).toEqual(['BF16']);
      if (s.tensors > 1) expect(s.data).toBeLessThanOrEqual(60_000);
    }
    expect(sizes.filter((s) => s.data > 60_000).map((s) => s.data)).toEqual([192_000, 192_000]);
    expect(sizes.reduce((a, s) => a + s.tensors, 0)).toBe(3 * 9 + 3);
  });

  it('refuses a width the heads do not divide, and a vocabulary smaller than the tokenizer', () => {
    const heads = cli('generate-model', path.join(work, 'bad'), '--hidden', '100', '--heads', '3');
    expect(heads.status).not.toBe(0);
    expect(heads.stderr).toContain('--hidden 100 must split into 3 heads of an even size');
    const vocab = cli('generate-model', path.join(work, 'bad'), '--vocab', '100');
    expect(vocab.status).not.toBe(0);
    expect(vocab.stderr).toContain("vocabulary size 100 is smaller than the tokenizer's 512 pieces");
  });
});

describe('model-scale measure', () => {
  it('measures every phase in its own process, with the disk the files take, and its probe scores as PyTorch does', async () => {
    const dir = path.join(work, 'model');
    const json = path.join(work, 'scale.json');
    const run = cli('model-scale', 'measure', dir, '--json', json);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^model .*: 0\.5M parameters, BF16 in \d+ file\(s\); graph fp32\n/);
    const m = JSON.parse(await readFile(json, 'utf8')) as ScaleMeasurement;
    expect(m.model.parameters).toBe(3 * (4 * 96 * 96 + 3 * 96 * 256 + 2 * 96) + 2 * 1000 * 96 + 96);
    for (const phase of ['read', 'hash', 'build', 'load'] as const) {
      const p = m.phases[phase];
      expect(p.seconds).toBeGreaterThan(0);
      expect(p.peakRssBytes).toBeGreaterThanOrEqual(p.startRssBytes);
    }
    const files = (await readdir(dir)).filter((f) => f.endsWith('.safetensors'));
    let total = 0;
    for (const f of files) total += (await stat(path.join(dir, f))).size;
    expect(m.disk.safetensorsBytes).toBe(total);
    // fp32 external data: 4 bytes a parameter, the tied-free LM head and embedding included, plus alignment.
    expect(m.disk.externalDataBytes).toBeGreaterThanOrEqual(4 * m.model.parameters);
    expect(m.disk.externalDataBytes).toBeLessThan(4 * m.model.parameters + 4096 * 40);
    const probe = (m.phases.load.facts as { probe: { context: number[]; continuation: number[]; logprob: number } }).probe;
    const requests = path.join(work, 'requests.json');
    await writeFile(requests, JSON.stringify({ requests: [{ id: 0, context: probe.context, continuation: probe.continuation }] }));
    const out = runPython([path.join(REPO_ROOT, 'test/reference/llama_reference.py'), '--model', dir, '--requests', requests]);
    expect(Math.abs(probe.logprob - (JSON.parse(out) as { answers: Array<{ logprob: number }> }).answers[0]!.logprob)).toBeLessThan(1e-4);
  });
});

describe('model-scale refusals', () => {
  it('names the file when a measurement is not one, and the directory when there is no model', async () => {
    const bogus = path.join(work, 'bogus.json');
    await writeFile(bogus, JSON.stringify({ format: 'optibench/bench', version: 2 }));
    const fit = cli('model-scale', 'fit', bogus, bogus);
    expect(fit.status).not.toBe(0);
    expect(fit.stderr).toContain(`${bogus}: expected "format": "optibench/model-scale", "version": 1`);
    const one = cli('model-scale', 'fit', bogus);
    expect(one.status).not.toBe(0);
    expect(one.stderr).toContain('a fit needs two or more measurements');
    const missing = cli('model-scale', 'measure', path.join(work, 'no-such-model'));
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('does not exist (expected a Hugging Face LLaMA directory)');
  });
});

describe('the scaling fit', () => {
  const xs = [105.8e6, 399.2e6, 1547.8e6];
  const ys = [0.53e9, 1.71e9, 6.6e9];
  it('is the least-squares line numpy fits, with its R^2', () => {
    const [slope, intercept, r2] = pythonJson<number[]>(
      `import numpy as np, json; x = np.array(${JSON.stringify(xs)}); y = np.array(${JSON.stringify(ys)}); b, a = np.polyfit(x, y, 1); r = np.corrcoef(x, y)[0, 1]; print(json.dumps([b, a, r * r]))`,
    );
    const fit = fitLine(xs, ys);
    expect(fit.slope).toBeCloseTo(slope!, 9);
    expect(fit.intercept / 1e6).toBeCloseTo(intercept! / 1e6, 6);
    expect(fit.r2).toBeCloseTo(r2!, 12);
    expect(fitLine([1, 2, 3], [5, 7, 9])).toEqual({ intercept: 3, slope: 2, r2: 1 });
    expect(() => fitLine([2, 2], [1, 3])).toThrow(/same x/);
  });

  it("predicts at LLaMA-30B's 32,528,943,616 parameters (hidden 6656, 60 layers, MLP 17920, vocabulary 32000)", () => {
    // 60 x (4 x 6656^2 + 3 x 6656 x 17920 + 2 x 6656) + 2 x 32000 x 6656 + 6656, by hand.
    expect(LLAMA_30B_TARGET.parameters).toBe(32_528_943_616);
    const measurement = (parameters: number, rss: number) =>
      ({
        model: { parameters, largestTensorElements: parameters / 10, hiddenSize: 1, numLayers: 1, intermediateSize: 1, vocabSize: 1 },
        phases: Object.fromEntries(['read', 'hash', 'build', 'load'].map((p) => [p, { seconds: 1, cpuSeconds: 1, laps: {}, startRssBytes: 0, peakRssBytes: rss, facts: {} }])),
        disk: { safetensorsBytes: 2 * parameters, graphBytes: 4 * parameters, externalDataBytes: 4 * parameters },
      }) as unknown as ScaleMeasurement;
    const fit = fitScale([measurement(2e9, 9e9), measurement(1e9, 5e9)]);
    const load = fit.fits.find((f) => f.figure === 'load peak RSS')!;
    // 1e9 + 4 bytes a parameter.
    expect(load.predicted).toBeCloseTo(1e9 + 4 * 32_528_943_616, 0);
    expect(fit.fits.find((f) => f.figure === 'safetensors disk')!.predicted).toBeCloseTo(2 * 32_528_943_616, 0);
    expect(fit.sizes.map((s) => s.parameters)).toEqual([1e9, 2e9]);
  });
});
