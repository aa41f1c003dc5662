/**
 * Weights past 2 GB: one float32 tensor of more than 2^31 bytes in a safetensors file, and an ONNX graph whose
 * external data is past 4 GB (that tensor and its transposed copy as the LM head). Node aborts on a single read
 * over 2^31 - 1 bytes and refuses such a write, so this fails unless every read and write is split.
 *
 * The values come from an integer hash of (tensor, index) written here and again in numpy, so the file is
 * checked by a reader that shares nothing with optibench's, at positions on both sides of 2^31 bytes; the
 * forward pass is checked against the independent PyTorch reference (test/reference/llama_reference.py).
 * About 2.2 GB of weights and 4.4 GB of external data on disk, ~4.5 GB of memory per phase, each phase in a
 * child process; about three minutes on two busy cores (load average ~15), mostly disk.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listWeights } from '../../src/models/llama/hf-model.js';
import { readTensorAsFloat32, writeSafetensors, type TensorSpec } from '../../src/models/llama/safetensors.js';
import { runPython } from '../helpers/python.js';
import { REPO_ROOT } from '../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
const H = 1024;
const M = 256;
// 526,336 x 1,024 float32 = 2,155,872,256 bytes: past 2^31 = 2,147,483,648.
const V = 524_288 + 2_048;
const TWO_GIB = 2 ** 31;

const config = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: H,
  intermediate_size: M,
  num_attention_heads: 8,
  num_key_value_heads: 8,
  num_hidden_layers: 1,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  vocab_size: V,
  hidden_act: 'silu',
  tie_word_embeddings: true,
  torch_dtype: 'float32',
};

// [name, shape, offset, scale]: value = offset + scale * u, u uniform in [-0.5, 0.5); scales give unit-ish
// activations (uniform of standard deviation s has width s * sqrt(12)) and logits of spread ~2.
const root12 = Math.sqrt(12);
const TENSORS: Array<[string, number[], number, number]> = [
  ['model.embed_tokens.weight', [V, H], 0, (2 / Math.sqrt(H)) * root12],
  ['model.layers.0.input_layernorm.weight', [H], 1, 0.2],
  ['model.layers.0.self_attn.q_proj.weight', [H, H], 0, root12 / Math.sqrt(H)],
  ['model.layers.0.self_attn.k_proj.weight', [H, H], 0, root12 / Math.sqrt(H)],
  ['model.layers.0.self_attn.v_proj.weight', [H, H], 0, root12 / Math.sqrt(H)],
  ['model.layers.0.self_attn.o_proj.weight', [H, H], 0, root12 / Math.sqrt(H)],
  ['model.layers.0.post_attention_layernorm.weight', [H], 1, 0.2],
  ['model.layers.0.mlp.gate_proj.weight', [M, H], 0, root12 / Math.sqrt(H)],
  ['model.layers.0.mlp.up_proj.weight', [M, H], 0, root12 / Math.sqrt(H)],
  ['model.layers.0.mlp.down_proj.weight', [H, M], 0, root12 / Math.sqrt(M)],
  ['model.norm.weight', [H], 1, 0.2],
];

/** The hash both sides compute: 32-bit integer mixing, exact in JavaScript and in numpy's uint64. */
function value(tensor: number, i: number): number {
  const [, , offset, scale] = TENSORS[tensor]!;
  let x = (Math.imul(i, 0x9e3779b1) + Math.imul(tensor + 1, 0x85ebca77)) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x2c1b3c6d) >>> 0;
  x = (x ^ (x >>> 12)) >>> 0;
  return Math.fround(offset + scale * (x / 4294967296 - 0.5));
}

const PY_VALUE = `
import numpy as np
def value(tensor, idx, offset, scale):
    i = np.asarray(idx, dtype=np.uint64)
    m = np.uint64(0xFFFFFFFF)
    x = (i * np.uint64(0x9E3779B1) + np.uint64(((tensor + 1) * 0x85EBCA77) & 0xFFFFFFFF)) & m
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(0x2C1B3C6D)) & m
    x = x ^ (x >> np.uint64(12))
    return (offset + scale * (x.astype(np.float64) / 4294967296.0 - 0.5)).astype(np.float32)
`;

// Elements of the big tensor on both sides of byte 2^31 (element 2^29), its first and its last.
const EMBED_SAMPLES = [0, 1, 12_345_678, 2 ** 29 - 1, 2 ** 29, 2 ** 29 + 1, 538_000_000, V * H - 1];

let work: string;
let modelDir: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-large-'));
  modelDir = path.join(work, 'model');
  await mkdir(modelDir);
  await writeFile(path.join(modelDir, 'config.json'), JSON.stringify(config));
  const specs: TensorSpec[] = TENSORS.map(([name, shape]) => ({ name, dtype: 'F32', shape }));
  await writeSafetensors(path.join(modelDir, 'model.safetensors'), specs, (spec) => {
    const k = TENSORS.findIndex(([name]) => name === spec.name);
    const out = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < out.length; i++) out[i] = value(k, i);
    return new Uint8Array(out.buffer);
  });
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a safetensors tensor over 2 GB', () => {
  it('is written whole: numpy reads the hashed values on both sides of 2^31 bytes, in it and after it', async () => {
    const file = path.join(modelDir, 'model.safetensors');
    expect((await stat(file)).size).toBeGreaterThan(V * H * 4);
    const samples = [
      [0, EMBED_SAMPLES],
      [2, [0, 777, H * H - 1]],
      [9, [0, 4242, H * M - 1]],
      [10, [0, H - 1]],
    ] as const;
    const code = `${PY_VALUE}
import json, struct
f = open(${JSON.stringify(file)}, 'rb')
n = struct.unpack('<Q', f.read(8))[0]
header = json.loads(f.read(n))
start = 8 + n
tensors = ${JSON.stringify(TENSORS.map(([name, , offset, scale]) => [name, offset, scale]))}
out = []
for k, idx in ${JSON.stringify(samples)}:
    name, offset, scale = tensors[k]
    begin = header[name]['data_offsets'][0]
    for i in idx:
        f.seek(start + begin + 4 * i)
        stored = np.frombuffer(f.read(4), dtype='<f4')[0]
        out.append([name, i, start + begin + 4 * i, bool(stored == value(k, [i], offset, scale)[0])])
print(json.dumps(out))`;
    const checked = JSON.parse(runPython(['-c', code])) as Array<[string, number, number, boolean]>;
    expect(checked.filter(([, , , same]) => !same)).toEqual([]);
    // The checks reached past 2^31 bytes, inside the big tensor and in the tensors after it.
    expect(checked.filter(([name, , byte]) => name === 'model.embed_tokens.weight' && byte > TWO_GIB).length).toBeGreaterThan(2);
    expect(checked.filter(([name, , byte]) => name !== 'model.embed_tokens.weight' && byte > TWO_GIB).length).toBeGreaterThan(0);
  });

  it("is read back whole by optibench's reader, value for value at the samples", async () => {
    const { weights } = await listWeights(modelDir);
    const embed = weights.get('model.embed_tokens.weight')!;
    expect(embed.entry.end - embed.entry.begin).toBeGreaterThan(TWO_GIB);
    const values = await readTensorAsFloat32(embed.entry, embed.file);
    expect(values.length).toBe(V * H);
    expect(EMBED_SAMPLES.map((i) => values[i])).toEqual(EMBED_SAMPLES.map((i) => value(0, i)));
    const down = weights.get('model.layers.0.mlp.down_proj.weight')!;
    expect(down.entry.begin).toBeGreaterThan(TWO_GIB);
    const downValues = await readTensorAsFloat32(down.entry, down.file);
    expect([0, 99, H * M - 1].map((i) => downValues[i])).toEqual([0, 99, H * M - 1].map((i) => value(9, i)));
  });
});

describe('an ONNX graph over 2 GB (external data past 4 GB)', () => {
  it('builds, loads and scores as the PyTorch reference does, each phase measured by model-scale', async () => {
    const json = path.join(work, 'scale.json');
    const run = spawnSync(process.execPath, [CLI, 'model-scale', 'measure', modelDir, '--work', path.join(work, 'scale'), '--keep', '--json', json], {
      encoding: 'utf8',
    });
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.status).toBe(0);
    const m = JSON.parse(await readFile(json, 'utf8')) as {
      disk: { externalDataBytes: number; graphBytes: number };
      phases: { build: { facts: { graphFile: string } }; load: { facts: { probe: { context: number[]; continuation: number[]; logprob: number } } } };
    };
    // The embedding and its transpose (the tied LM head), each past 2^31 bytes.
    expect(m.disk.externalDataBytes).toBeGreaterThan(2 * V * H * 4);
    const graph = m.phases.build.facts.graphFile;
    expect((await stat(graph)).size).toBeLessThan(2 ** 20);
    const probe = m.phases.load.facts.probe;
    // The probe reaches the end of the vocabulary: embedding rows past byte 2^31 are gathered.
    expect(Math.max(...probe.context, ...probe.continuation) * H * 4).toBeGreaterThan(TWO_GIB);
    await rm(path.dirname(graph), { recursive: true, force: true });

    const requests = path.join(work, 'requests.json');
    await writeFile(requests, JSON.stringify({ requests: [{ id: 0, context: probe.context, continuation: probe.continuation }] }));
    const out = runPython([path.join(REPO_ROOT, 'test/reference/llama_reference.py'), '--model', modelDir, '--requests', requests]);
    const reference = (JSON.parse(out) as { answers: Array<{ logprob: number }> }).answers[0]!.logprob;
    expect(Number.isFinite(reference)).toBe(true);
    expect(Math.abs(probe.logprob - reference)).toBeLessThan(1e-4);
  }, 600_000);
});
