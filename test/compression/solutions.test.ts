/**
 * The shipped compression solutions, run directly (not sandboxed: the evaluator owns that) in both protocols on
 * samples generated from the tiny LLaMA: bit-exact round trips, the baseline's output decoded by the `zstd` CLI
 * (an independent decoder), and the reference's ratio above the baseline's.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir } from '../../src/core/paths.js';
import { embeddedDatasetPath, ensurePresetModel } from '../../src/evaluators/compression/samples/model.js';
import { generateSamples, tokenBatches } from '../../src/evaluators/compression/samples/generate.js';
import { workerPythonPath } from '../../src/backends/pytorch/backend.js';
import { decodeNpy } from '../../src/evaluators/compression/npy.js';
import { SHIPPED_SOLUTIONS, shippedSolutionDir } from '../../src/evaluators/compression/solutions/index.js';
import type { SampleEntry } from '../../src/evaluators/compression/sample-manifest.js';
import { PYTHON, pythonJson } from '../helpers/python.js';

let root: string;
let modelDir: string;
let samples: { entry: SampleEntry; npy: Buffer; raw: Buffer }[];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-solutions-'));
  modelDir = await ensurePresetModel(defaultCacheDir(), 'tiny');
  const dir = path.join(root, 'samples');
  const entries = await generateSamples({ modelDir, datasetPath: embeddedDatasetPath(), outDir: dir, count: 1, batchSize: 1, layers: [1], python: PYTHON });
  samples = await Promise.all(
    entries.map(async (entry) => {
      const npy = await readFile(path.join(dir, entry.file));
      const { bits } = decodeNpy(npy);
      return { entry, npy, raw: Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength) };
    }),
  );
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function runSolution(name: string, args: string[]): void {
  const result = spawnSync(PYTHON, ['solution.py', ...args], { cwd: shippedSolutionDir(name as never), encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${name} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
}

/** Protocol cli: compress then decompress through job files; returns the compressed bytes and the .npy out. */
async function cliRoundTrip(name: string, npy: Buffer, tag: string): Promise<{ compressed: Buffer; npyOut: Buffer }> {
  const compressedPath = path.join(root, `${name}-${tag}.bin`);
  const outPath = path.join(root, `${name}-${tag}.out.npy`);
  const job1 = path.join(root, `${name}-${tag}-c.json`);
  await writeFile(job1, JSON.stringify({ data_to_compress_base64: npy.toString('base64'), expected_output_filepath: compressedPath }));
  runSolution(name, ['--compress', '--input-file', job1]);
  const compressed = await readFile(compressedPath);
  const job2 = path.join(root, `${name}-${tag}-d.json`);
  await writeFile(job2, JSON.stringify({ data_to_decompress_base64: compressed.toString('base64'), expected_output_filepath: outPath }));
  runSolution(name, ['--decompress', '--input-file', job2]);
  return { compressed, npyOut: await readFile(outPath) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function startServer(name: string): Promise<{ base: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn(PYTHON, ['solution.py', '--port', String(port)], { cwd: shippedSolutionDir(name as never), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const health = await fetch(`${base}/health`);
      if (health.status === 200) return { base, stop: () => child.kill() };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`${name} --port exited ${child.exitCode}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`${name} never answered /health: ${stderr}`);
}

async function post(base: string, route: string, bytes: Buffer, shape: readonly number[]): Promise<Buffer> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), 'data.bin');
  form.append('shape', shape.join('x'));
  const response = await fetch(`${base}${route}`, { method: 'POST', body: form });
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) throw new Error(`${route} answered ${response.status}: ${body.toString()}`);
  expect(response.headers.get('content-type')).toBe('application/octet-stream');
  return body;
}

describe('shipped solutions', () => {
  it('generated the tiny model\'s samples: hidden state, MLP activation and bottleneck, forward and backward', () => {
    expect(samples.map((s) => `${s.entry.source}:${s.entry.kind}:${s.entry.shape.join('x')}`).sort()).toEqual([
      'bottleneck:backward:1x800x128',
      'bottleneck:forward:1x800x128',
      'hidden_state:backward:1x800x64',
      'hidden_state:forward:1x800x64',
      'mlp_activation:backward:1x800x172',
      'mlp_activation:forward:1x800x172',
    ]);
  });

  it('the last layer\'s backward hidden state is the LM loss gradient, recomputed by autograd from its forward sample', async () => {
    // Independent of capture.py's graph: final norm + LM head + mean next-token cross-entropy written out here,
    // on the bf16 forward sample (so the match is to bf16 precision, not exact).
    const ids = await tokenBatches(modelDir, embeddedDatasetPath(), 1, 1);
    const idsFile = path.join(root, 'ids.json');
    await writeFile(idsFile, JSON.stringify(ids[0]));
    const dir = path.join(root, 'samples');
    const fwd = samples.find((s) => s.entry.source === 'hidden_state' && s.entry.kind === 'forward')!.entry.file;
    const bwd = samples.find((s) => s.entry.source === 'hidden_state' && s.entry.kind === 'backward')!.entry.file;
    const got = pythonJson<{ relative: number; cosine: number }>(`
import json, sys, numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, ${JSON.stringify(workerPythonPath())})
from worker.weights import WeightStore
cfg = json.load(open(${JSON.stringify(path.join(modelDir, 'config.json'))}))
H, V, eps = cfg["hidden_size"], cfg["vocab_size"], cfg["rms_norm_eps"]
st = WeightStore(${JSON.stringify(modelDir)})
def bf16(f):
    return torch.from_numpy(np.load(${JSON.stringify(dir)} + "/" + f).view(np.int16)).view(torch.bfloat16).float()
ids = torch.tensor(json.load(open(${JSON.stringify(idsFile)})))
h = bf16(${JSON.stringify(fwd)}).requires_grad_(True)
x = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps) * st.get("model.norm.weight", (H,)).float()
logits = x @ st.get("lm_head.weight", (V, H)).float().T
F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1)).backward()
g = bf16(${JSON.stringify(bwd)})
print(json.dumps({"relative": float((g - h.grad).norm() / h.grad.norm()), "cosine": float(F.cosine_similarity(g.flatten(), h.grad.flatten(), dim=0))}))`);
    expect(got.cosine).toBeGreaterThan(0.999);
    expect(got.relative).toBeLessThan(0.03);
  });

  for (const name of SHIPPED_SOLUTIONS) {
    it(`${name}: protocol cli round trip is bit-exact on every sample`, async () => {
      for (const [i, s] of samples.entries()) {
        const { npyOut } = await cliRoundTrip(name, s.npy, `s${i}`);
        const back = decodeNpy(npyOut);
        expect(back.shape).toEqual(s.entry.shape);
        expect(Buffer.from(back.bits.buffer).equals(s.raw)).toBe(true);
      }
    });

    it(`${name}: protocol http round trip is bit-exact, /health answers, a bad request is refused and the server keeps serving`, async () => {
      const server = await startServer(name);
      try {
        for (const s of samples) {
          const compressed = await post(server.base, '/compress', s.raw, s.entry.shape);
          const back = await post(server.base, '/decompress', compressed, s.entry.shape);
          expect(back.equals(s.raw)).toBe(true);
        }
        const bad = new FormData();
        bad.append('file', new Blob([Buffer.alloc(3)]), 'data.bin');
        bad.append('shape', '2x2');
        const refused = await fetch(`${server.base}/compress`, { method: 'POST', body: bad });
        expect(refused.status).toBe(400);
        expect(await refused.text()).toContain('3 bytes for shape (2, 2)');
        expect((await fetch(`${server.base}/health`)).status).toBe(200);
      } finally {
        server.stop();
      }
    });
  }

  it('baseline-zstd writes zstd streams that the zstd CLI decodes to the raw bf16 bytes (cli and http)', async () => {
    const s = samples[0]!;
    const { compressed } = await cliRoundTrip('baseline-zstd', s.npy, 'zstdcli');
    const server = await startServer('baseline-zstd');
    let overHttp: Buffer;
    try {
      overHttp = await post(server.base, '/compress', s.raw, s.entry.shape);
    } finally {
      server.stop();
    }
    for (const stream of [compressed, overHttp]) {
      const decoded = spawnSync('zstd', ['-d', '-c', '-q'], { input: stream, maxBuffer: 1 << 28 });
      expect(decoded.status, decoded.stderr?.toString()).toBe(0);
      expect(decoded.stdout.equals(s.raw)).toBe(true);
    }
    // Level 3, as the CLI's own level 3 on the same bytes gives (the frames match byte for byte bar the header).
    const cli = spawnSync('zstd', ['-3', '-c', '-q', '--single-thread'], { input: s.raw, maxBuffer: 1 << 28 });
    expect(Math.abs(cli.stdout.length - overHttp.length)).toBeLessThan(16);
  });

  it('reference-byte-planes compresses every sample smaller than the baseline', async () => {
    for (const [i, s] of samples.entries()) {
      const base = (await cliRoundTrip('baseline-zstd', s.npy, `cmp${i}`)).compressed.length;
      const ref = (await cliRoundTrip('reference-byte-planes', s.npy, `cmp${i}`)).compressed.length;
      expect(ref, s.entry.file).toBeLessThan(base);
      expect(s.raw.length / ref, s.entry.file).toBeGreaterThan(1.3);
    }
  });
});
