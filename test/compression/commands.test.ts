/**
 * `compression samples` and `compression bench` as a user runs them (a commander group with the two verbs
 * registered, as the compression evaluator's group does): figures checked against numpy's entropy and the
 * zstd CLI's sizes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerBench } from '../../src/evaluators/compression/commands/bench.js';
import { registerSamples } from '../../src/evaluators/compression/commands/samples.js';
import { decodeNpy } from '../../src/evaluators/compression/npy.js';
import { parseManifestCsv } from '../../src/evaluators/compression/sample-manifest.js';
import type { BenchReport } from '../../src/evaluators/compression/solutions/bench.js';
import { ensurePresetModel } from '../../src/evaluators/compression/samples/model.js';
import { ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { defaultCacheDir } from '../../src/core/paths.js';
import { PYTHON, pythonJson } from '../helpers/python.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-compression-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  const group = program.command('compression');
  registerSamples(group);
  registerBench(group);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(['node', 'optibench', 'compression', ...args]);
  } finally {
    spy.mockRestore();
    quiet.mockRestore();
  }
  return out;
}

describe('compression samples / bench', () => {
  it('samples -o writes the tiny model\'s activations whose manifest hashes and shapes match the files', async () => {
    const dir = path.join(root, 'samples');
    const out = await cli(['samples', '-o', dir, '--model', 'tiny', '--batch', '1', '--layers', '0', '--bottleneck', '96', '--python', PYTHON]);
    expect(out).toMatch(/^wrote 6 samples \(\d+\.\d MB of bf16\) and manifest.csv to /);
    const entries = parseManifestCsv(await readFile(path.join(dir, 'manifest.csv'), 'utf8'));
    expect(entries.map((e) => [e.kind, e.source, e.layer, e.shape.join('x')])).toEqual([
      ['forward', 'hidden_state', 0, '1x800x64'],
      ['backward', 'hidden_state', 0, '1x800x64'],
      ['forward', 'mlp_activation', 0, '1x800x172'],
      ['backward', 'mlp_activation', 0, '1x800x172'],
      ['forward', 'bottleneck', 0, '1x800x96'],
      ['backward', 'bottleneck', 0, '1x800x96'],
    ]);
    // Python's hashlib and PyTorch's bfloat16 view of the files (PROTOCOL.md's reading) as the reference.
    const facts = pythonJson<{ file: string; sha256: string; finite: boolean; maxAbs: number }[]>(`
import hashlib, json, numpy as np, torch
out = []
for f in ${JSON.stringify(entries.map((e) => e.file))}:
    p = ${JSON.stringify(dir)} + "/" + f
    a = np.load(p)
    t = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16).float()
    out.append({"file": f, "sha256": hashlib.sha256(open(p, "rb").read()).hexdigest(), "finite": bool(torch.isfinite(t).all()), "maxAbs": float(t.abs().max())})
print(json.dumps(out))`);
    for (const [i, e] of entries.entries()) {
      expect(facts[i]!.sha256).toBe(e.sha256);
      expect(facts[i]!.finite).toBe(true);
      expect(facts[i]!.maxAbs).toBeGreaterThan(0);
    }
    // Gradients of a mean loss over 799 positions are far smaller than the activations they belong to.
    expect(facts[1]!.maxAbs).toBeLessThan(facts[0]!.maxAbs / 10);
  });

  it('bench --json reports bit-exact round trips, numpy\'s order-0 bound and zstd\'s own level-3 ratio', async () => {
    const dir = path.join(root, 'samples');
    const report = JSON.parse(await cli(['bench', '--samples', dir, '--repeat', '1', '--json', '--python', PYTHON])) as BenchReport;
    const all = (name: string) => report.rows.find((r) => r.solution === name && r.group === 'all')!;
    for (const name of ['baseline-zstd', 'template', 'reference-byte-planes']) {
      expect(all(name).exact).toBe(true);
      expect(all(name).samples).toBe(6);
      expect(all(name).compressMBps).toBeGreaterThan(0);
    }
    const entries = parseManifestCsv(await readFile(path.join(dir, 'manifest.csv'), 'utf8'));
    const bound = pythonJson<number>(`
import numpy as np
bits = values = 0
for f in ${JSON.stringify(entries.map((e) => path.join(dir, e.file)))}:
    a = np.load(f).ravel()
    p = np.unique(a, return_counts=True)[1] / a.size
    bits += -(p * np.log2(p)).sum() * a.size
    values += a.size
print(16 * values / bits)`);
    expect(all('reference-byte-planes').boundRatio).toBeCloseTo(bound, 6);
    let zstdBytes = 0;
    let rawBytes = 0;
    for (const e of entries) {
      const { bits } = decodeNpy(await readFile(path.join(dir, e.file)));
      const raw = Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength);
      zstdBytes += spawnSync('zstd', ['-3', '-c', '-q', '--single-thread'], { input: raw, maxBuffer: 1 << 28 }).stdout.length;
      rawBytes += raw.length;
    }
    expect(all('baseline-zstd').originalBytes).toBe(rawBytes);
    expect(Math.abs(all('baseline-zstd').ratio / (rawBytes / zstdBytes) - 1)).toBeLessThan(0.01);
    expect(all('reference-byte-planes').ratio).toBeGreaterThan(all('baseline-zstd').ratio);
    const table = await cli(['bench', '--samples', dir, '--repeat', '1', '--solution', 'reference-byte-planes', '--python', PYTHON]);
    expect(table).toMatch(/^samples: .*; cpu: .*median of 1 runs, in-process; load average \d+\.\d\d on \d+ cores\nsolution +kind +n +ratio +order-0 bound +of bound +compress MB\/s +decompress MB\/s +bit-exact\n/);
    expect(table).toMatch(/reference-byte-planes +all +6 +\d\.\d{3}x +\d\.\d{3}x +\d+\.\d% +\d+ +\d+ +yes/);
  });

  it('the tiny preset is the inference evaluator\'s embedded default model (same seed, text and cache folder)', async () => {
    expect(await ensurePresetModel(defaultCacheDir(), 'tiny')).toBe(await ensureDefaultModel(defaultCacheDir()));
  });

  it('bench without samples says how to make them', async () => {
    await expect(cli(['bench', '--samples', path.join(root, 'none')])).rejects.toThrow('no manifest.csv in');
  });
});
