/**
 * The quantization plugin's weight formats against an independent numpy reference:
 *
 * - the packed bytes are unpacked in numpy from ONNX Runtime's MatMulNBits spec layout (B uint8
 *   [N, k_blocks, block_size * bits / 8], codes low bits first along K; scales [N, k_blocks]; zero points
 *   uint8 [N, ceil(k_blocks * bits / 8)], packed like B, each row padded to a whole byte), dequantized as
 *   (code - zero_point) * scale, and compared with the original weights within half a quantization step;
 *   numpy's own quantization of the same weights gives the same scales, zero points and codes;
 * - per-channel int8 scales and codes equal numpy's;
 * - one quantized linear layer, emitted by the LinearPart into a real ONNX graph and run by ONNX Runtime,
 *   equals numpy's matmul on numpy's dequantized weights (weight-only), or numpy's simulation of
 *   DynamicQuantizeLinear + integer matmul (dynamic int8, both kernels), or of per-row symmetric scales
 *   (dynamic int8 with per-token activations).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { createNormal, createRandom } from '../../src/core/random.js';
import { float16ToFloat32, float32ToFloat16 } from '../../src/models/float16.js';
import { ExternalDataWriter } from '../../src/models/external-data.js';
import { listWeights, type LlamaConfig } from '../../src/models/llama/hf-model.js';
import { WeightWriter, type BuildContext } from '../../src/models/llama/graph/context.js';
import {
  defaultInt8Weights,
  quantizationSettingsSchema,
  quantizeBlockwise,
  quantizeInt8PerChannel,
  quantizedLinear,
} from '../../src/models/llama/graph/quantized-linear.js';
import { encodeSafetensors } from '../../src/models/llama/safetensors.js';
import { ElemType, GraphBuilder } from '../../src/models/onnx-builder.js';
import { runPython } from '../helpers/python.js';

/** A number rounded to fp16 and back (numpy's astype(float16) rounds the same way: to nearest, ties to even). */
const toHalf = (s: number) => float16ToFloat32(float32ToFloat16(s));

const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** Gaussian weights with the awkward cases a real checkpoint has: outliers, an all-zero block, one-signed blocks. */
function testWeights(rows: number, cols: number, seed: number): Float32Array {
  const normal = createNormal(createRandom(seed));
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = 0.05 * normal();
  for (let i = 0; i < w.length; i += 97) w[i] = w[i]! * 12; // outliers, a few per row
  w.fill(0, cols, cols + Math.min(cols, 32)); // row 1 starts with zeros: an all-zero block
  for (let c = 0; c < Math.min(cols, 40); c++) w[2 * cols + c] = Math.abs(w[2 * cols + c]!) + 0.01; // row 2: positive only
  for (let c = 0; c < Math.min(cols, 40); c++) w[3 * cols + c] = -Math.abs(w[3 * cols + c]!) - 0.01; // row 3: negative only
  return w;
}

/**
 * numpy's own block-wise asymmetric quantization (the range includes zero; round half to even; fp16 models
 * round the scales first), shared by the reference scripts below: per block scale, zero point and codes.
 */
const NUMPY_BLOCK_QUANTIZE = String.raw`
def block_quantize(W, bits, bs, fp16):
    N, K = W.shape
    kb = -(-K // bs); levels = (1 << bits) - 1
    Wp = np.zeros((N, kb * bs), dtype=np.float32); Wp[:, :K] = W
    Wb = Wp.reshape(N, kb, bs)
    lo = np.minimum(np.float32(0), Wb.min(axis=2)); hi = np.maximum(np.float32(0), Wb.max(axis=2))
    scale = ((hi - lo).astype(np.float32) / np.float32(levels)).astype(np.float32)
    if fp16:
        scale = scale.astype(np.float16).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    zp = np.where(scale > 0, np.clip(np.rint(-lo / safe), 0, levels), 0).astype(np.int32)
    q = np.clip(np.rint(Wb / safe[:, :, None]) + zp[:, :, None], 0, levels).astype(np.int32)
    return scale, zp, q
`;

/** numpy: unpack per the spec, dequantize, and quantize independently with the same scheme. */
const BLOCKWISE_REFERENCE = String.raw`
import base64, json, sys
import numpy as np
${NUMPY_BLOCK_QUANTIZE}
cases = json.load(sys.stdin)
out = []
for c in cases:
    N, K, bits, bs = c['N'], c['K'], c['bits'], c['blockSize']
    W = np.frombuffer(base64.b64decode(c['w']), dtype=np.float32).reshape(N, K)
    kb = -(-K // bs)
    blob = bs * bits // 8
    zp_row = -(-(kb * bits) // 8)
    B = np.frombuffer(base64.b64decode(c['packed']), dtype=np.uint8)
    S = np.frombuffer(base64.b64decode(c['scales']), dtype=np.float32)
    Z = np.frombuffer(base64.b64decode(c['zeroPoints']), dtype=np.uint8)
    sizes_ok = B.size == N * kb * blob and S.size == N * kb and Z.size == N * zp_row
    B = B.reshape(N, kb, blob); S = S.reshape(N, kb); Z = Z.reshape(N, zp_row)
    if bits == 4:
        codes = np.stack([B & 0x0F, B >> 4], axis=-1).reshape(N, kb, bs)   # low nibble first
        zps = np.stack([Z & 0x0F, Z >> 4], axis=-1).reshape(N, 2 * zp_row)[:, :kb]
    else:
        codes = B.reshape(N, kb, bs)
        zps = Z[:, :kb]
    codes = codes.astype(np.int32); zps = zps.astype(np.int32)
    deq = ((codes - zps[:, :, None]).astype(np.float32) * S[:, :, None]).reshape(N, kb * bs)
    padding_ok = bool(np.all(deq[:, K:] == 0))
    deq = deq[:, :K]
    step = np.repeat(S, bs, axis=1)[:, :K]
    # Within half a step (plus float32 rounding of the product) of the original weight.
    err = np.abs(deq - W)
    bound = step / 2 * (1 + 1e-5) + 1e-12
    worst = float(np.max(err / np.maximum(bound, 1e-30)))
    # numpy's own quantization, same scheme: range includes zero, round half to even.
    scale, zp, q = block_quantize(W, bits, bs, c['fp16'])
    q = np.where(scale[:, :, None] > 0, q, 0)
    valid = (np.arange(kb * bs) < K).reshape(kb, bs)[None, :, :]
    out.append(dict(sizes_ok=bool(sizes_ok), padding_ok=padding_ok, worst=worst,
                    max_step=float(S.max()),
                    scale_mismatch=int(np.sum(scale != S)), zp_mismatch=int(np.sum(zp != zps)),
                    code_mismatch=int(np.sum((q != codes) & valid))))
print(json.dumps(out))
`;

const INT8_REFERENCE = String.raw`
import base64, json, sys
import numpy as np
cases = json.load(sys.stdin)
out = []
for c in cases:
    K, N = c['K'], c['N']
    W = np.frombuffer(base64.b64decode(c['w']), dtype=np.float32).reshape(K, N)
    q = np.frombuffer(base64.b64decode(c['q']), dtype=np.int8).reshape(K, N).astype(np.int32)
    S = np.frombuffer(base64.b64decode(c['scales']), dtype=np.float32)
    scale = (np.abs(W).max(axis=0) / np.float32(127)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    expected = np.where(scale > 0, np.clip(np.rint(W / safe), -127, 127), 0).astype(np.int32)
    err = np.abs(q.astype(np.float32) * S - W)
    worst = float(np.max(err / np.maximum(S / 2 * (1 + 1e-5) + 1e-12, 1e-30)))
    out.append(dict(scale_mismatch=int(np.sum(scale != S)), code_mismatch=int(np.sum(expected != q)),
                    worst=worst, min_code=int(q.min()), max_code=int(q.max())))
print(json.dumps(out))
`;

describe('block-wise packing (MatMulNBits layout) vs numpy', () => {
  const cases = [
    { N: 24, K: 64, bits: 4, blockSize: 32, fp16: false }, // whole blocks, even k_blocks
    { N: 16, K: 172, bits: 4, blockSize: 32, fp16: false }, // a last block of 12: padded
    { N: 16, K: 172, bits: 4, blockSize: 64, fp16: false }, // 3 blocks: zero-point rows padded to a byte
    { N: 8, K: 64, bits: 4, blockSize: 128, fp16: false }, // one block longer than K
    { N: 12, K: 172, bits: 8, blockSize: 16, fp16: false },
    { N: 12, K: 96, bits: 8, blockSize: 32, fp16: false },
    { N: 16, K: 172, bits: 4, blockSize: 32, fp16: true }, // scales rounded to fp16 before codes are chosen
    { N: 12, K: 96, bits: 8, blockSize: 32, fp16: true },
  ] as const;

  it('unpacks, dequantizes within half a step and matches numpy\'s own quantization exactly', () => {
    const payload = cases.map((c, i) => {
      const w = testWeights(c.N, c.K, 100 + i);
      const q = quantizeBlockwise(w, c.N, c.K, c.bits, c.blockSize, c.fp16 ? toHalf : undefined);
      return { ...c, w: b64(w), packed: b64(q.packed), scales: b64(q.scales), zeroPoints: b64(q.zeroPoints) };
    });
    const results = JSON.parse(runPython(['-c', BLOCKWISE_REFERENCE], JSON.stringify(payload))) as {
      sizes_ok: boolean;
      padding_ok: boolean;
      worst: number;
      scale_mismatch: number;
      zp_mismatch: number;
      code_mismatch: number;
    }[];
    for (const [i, r] of results.entries()) {
      expect([cases[i], r]).toEqual([cases[i], { ...r, sizes_ok: true, padding_ok: true, scale_mismatch: 0, zp_mismatch: 0, code_mismatch: 0 }]);
      // Every weight within half a step of its block's dequantized value (worst = error / (step / 2)). With
      // fp16 scales the stored step may be up to 2^-11 smaller than the range needs, so the top code can
      // clamp by up to (2^bits - 1) * 2^-11 of a step more.
      const { bits, fp16 } = cases[i]!;
      expect(r.worst).toBeLessThanOrEqual(fp16 ? 1 + 2 * ((1 << bits) - 1) * 2 ** -11 : 1);
    }
  });
});

describe('per-channel int8 (dynamic-int8 weights) vs numpy', () => {
  it('scales are max|w| / 127 per output channel, codes rint(w / scale) in [-127, 127], exactly as numpy', () => {
    const shapes = [
      { K: 64, N: 172 },
      { K: 172, N: 64 },
      { K: 768, N: 96 },
    ];
    const payload = shapes.map(({ K, N }, i) => {
      const w = testWeights(K, N, 200 + i); // [K, N], the MatMul layout
      for (let k = 0; k < K; k++) w[k * N + 5] = 0; // an all-zero output channel
      const { q, scales } = quantizeInt8PerChannel(w, K, N);
      return { K, N, w: b64(w), q: b64(q), scales: b64(scales) };
    });
    const results = JSON.parse(runPython(['-c', INT8_REFERENCE], JSON.stringify(payload))) as {
      scale_mismatch: number;
      code_mismatch: number;
      worst: number;
      min_code: number;
      max_code: number;
    }[];
    for (const r of results) {
      expect([r.scale_mismatch, r.code_mismatch]).toEqual([0, 0]);
      expect(r.worst).toBeLessThanOrEqual(1);
      expect(r.min_code).toBeGreaterThanOrEqual(-127);
      expect(r.max_code).toBeLessThanOrEqual(127);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// One linear layer through the LinearPart, run by ONNX Runtime.

const H = 64;
const M = 172;

/** Builds a graph y = linear(x) with the quantized part, its weight streamed from a real safetensors file. */
async function linearSession(name: string, w: Float32Array, settings: unknown, T: ElemType = ElemType.FLOAT) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-qlin-'));
  const [out, inp] = name.includes('down_proj') ? [H, M] : [M, H];
  await writeFile(path.join(dir, 'model.safetensors'), encodeSafetensors([{ name, dtype: 'F32', shape: [out, inp], data: new Uint8Array(w.buffer) }]));
  const { weights } = await listWeights(dir);
  const g = new GraphBuilder('linear');
  const writer = await ExternalDataWriter.create(path.join(dir, 'model.onnx.data'));
  const config = { hidden_size: H, intermediate_size: M, num_key_value_heads: 2, head_dim: 16, vocab_size: 512 } as LlamaConfig;
  const facts: Record<string, string[]> = {};
  const ctx = { g, config, T, weights: new WeightWriter(g, weights, writer), facts, memo: new Map() } as unknown as BuildContext;
  const part = quantizedLinear(quantizationSettingsSchema.parse(settings));
  const prepared = await part.prepare(ctx, name);
  await writer.close();
  const x = g.input('x', ElemType.FLOAT, ['batch', 'seq', inp]);
  const xT = T === ElemType.FLOAT ? x : g.op('Cast', [x], { to: { kind: 'int', value: T } });
  const y = part.apply(ctx, xT, prepared);
  g.output(T === ElemType.FLOAT ? y : g.op('Cast', [y], { to: { kind: 'int', value: ElemType.FLOAT } }), 'y', ElemType.FLOAT, ['batch', 'seq', out]);
  const file = path.join(dir, 'model.onnx');
  await writeFile(file, g.serialize({ '': 17, 'com.microsoft': 1 }));
  const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3, graphOptimizationLevel: 'disabled' });
  return { session, facts, operators: g.operatorCounts(), out, inp };
}

/** numpy: the expected output of each scheme, from numpy's own quantization of the float weights. */
const LINEAR_REFERENCE = String.raw`
import base64, json, sys
import numpy as np
${NUMPY_BLOCK_QUANTIZE}
c = json.load(sys.stdin)
x = np.frombuffer(base64.b64decode(c['x']), dtype=np.float32).reshape(-1, c['K'])
W = np.frombuffer(base64.b64decode(c['w']), dtype=np.float32).reshape(c['N'], c['K'])
if c['mode'] == 'weight-only':
    bits, bs, K, N = c['bits'], c['blockSize'], c['K'], c['N']
    scale, zp, q = block_quantize(W, bits, bs, c['fp16'])
    deq = ((q - zp[:, :, None]) * scale[:, :, None]).astype(np.float32).reshape(N, -1)[:, :K]
    if c['fp16']:
        x = x.astype(np.float16).astype(np.float32)
    y = x.astype(np.float64) @ deq.T.astype(np.float64)
else:
    # Per-channel symmetric int8 weights; activations as ONNX's DynamicQuantizeLinear defines it.
    top = 63 if c['int8Weights'] == 'signed-7bit' else 127
    s_w = (np.abs(W).max(axis=1) / np.float32(top)).astype(np.float32)
    q_w = np.clip(np.rint(W / s_w[:, None]), -top, top).astype(np.int64)
    if c['fp16']:
        x = x.astype(np.float16).astype(np.float32)
if c['mode'] == 'dynamic-int8' and c.get('activations') == 'per-token':
    # One symmetric scale per row: s = max|x| / 127, q = rint(x / s).
    s_x = (np.abs(x).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    q_x = np.rint(x / s_x).astype(np.int64)
    y = (q_x @ q_w.T).astype(np.float64) * s_x.astype(np.float64) * s_w.astype(np.float64)
elif c['mode'] == 'dynamic-int8':
    x_min = min(np.float32(0), x.min()); x_max = max(np.float32(0), x.max())
    s_x = np.float32((x_max - x_min) / np.float32(255))
    zp_x = np.clip(np.rint(-x_min / s_x), 0, 255)
    q_x = np.clip(np.rint(x / s_x) + zp_x, 0, 255).astype(np.int64)
    acc = (q_x - int(zp_x)) @ q_w.T
    y = acc.astype(np.float64) * (np.float64(s_x) * s_w.astype(np.float64))
print(json.dumps(dict(y=base64.b64encode(y.astype(np.float32).tobytes()).decode(), scale=float(np.abs(y).max()))))
`;

describe('a quantized linear layer in ONNX Runtime vs numpy', () => {
  const variants = [
    { mode: 'weight-only', bits: 4, blockSize: 32 },
    { mode: 'weight-only', bits: 4, blockSize: 64 },
    { mode: 'weight-only', bits: 8, blockSize: 16 },
    { mode: 'weight-only', bits: 8, blockSize: 128 },
    { mode: 'dynamic-int8', kernel: 'matmul-integer' },
    { mode: 'dynamic-int8', kernel: 'dynamic-quantize-matmul' },
    { mode: 'dynamic-int8', kernel: 'matmul-integer', activations: 'per-token' },
    // The same integers stored unsigned (+128, zero point 128): exact on every CPU, chosen where the signed
    // kernels saturate; named here so both storages run on every machine the suite runs on.
    { mode: 'dynamic-int8', kernel: 'matmul-integer', int8Weights: 'unsigned' },
    { mode: 'dynamic-int8', kernel: 'dynamic-quantize-matmul', int8Weights: 'unsigned' },
    { mode: 'dynamic-int8', kernel: 'matmul-integer', activations: 'per-token', int8Weights: 'unsigned' },
    // 7-bit codes stored signed: the uint8 x int8 kernels cannot saturate with them, VNNI or not.
    { mode: 'dynamic-int8', kernel: 'matmul-integer', int8Weights: 'signed-7bit' },
    { mode: 'dynamic-int8', kernel: 'dynamic-quantize-matmul', int8Weights: 'signed-7bit' },
    { mode: 'dynamic-int8', kernel: 'matmul-integer', activations: 'per-token', int8Weights: 'signed-7bit' },
  ] as const;

  for (const name of ['model.layers.0.mlp.down_proj.weight', 'model.layers.0.mlp.up_proj.weight']) {
    for (const fp16 of [false, true]) {
      it.each(variants)(`${name.split('.').at(-2)}${fp16 ? ' (fp16 model)' : ''}: %o`, async (variant) => {
        const [N, K] = name.includes('down_proj') ? [H, M] : [M, H];
        const w = testWeights(N, K, 300);
        const { session, operators, facts } = await linearSession(name, w, { ...variant, keepFloat: [] }, fp16 ? ElemType.FLOAT16 : ElemType.FLOAT);
        const normal = createNormal(createRandom(7));
        const rows = 2 * 5;
        const x = Float32Array.from({ length: rows * K }, () => normal());
        const result = await session.run({ x: new ort.Tensor('float32', x, [2, 5, K]) });
        await session.release();
        const ours = result.y!.data as Float32Array;
        // The storage this machine's default picks (signed with VNNI, 7-bit elsewhere) when the variant names none.
        const int8Weights = 'int8Weights' in variant ? variant.int8Weights : defaultInt8Weights();
        const ref = JSON.parse(runPython(['-c', LINEAR_REFERENCE], JSON.stringify({ ...variant, int8Weights, fp16, K, N, x: b64(x), w: b64(w) }))) as { y: string; scale: number };
        const theirs = new Float32Array(new Uint8Array(Buffer.from(ref.y, 'base64')).buffer);
        let worst = 0;
        for (let i = 0; i < theirs.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - theirs[i]!));
        // fp32: the same dequantized weights (or the same integer sums) differ only by float32 accumulation
        // order, ~1e-6 of the output's size. fp16: activations and outputs are rounded to fp16 in the graph
        // (relative 2^-11 each), which the reference models only on the way in.
        expect(worst / ref.scale).toBeLessThan(fp16 ? 4e-3 : 1e-5);
        expect(facts.quantized).toEqual([name]);
        if (variant.mode === 'weight-only') expect(operators['com.microsoft.MatMulNBits']).toBe(1);
        else if (variant.kernel === 'dynamic-quantize-matmul') expect(operators['com.microsoft.DynamicQuantizeMatMul']).toBe(1);
        else if ('activations' in variant) expect([operators.QuantizeLinear, operators['com.microsoft.MatMulIntegerToFloat'], operators.MatMulInteger]).toEqual([1, 1, undefined]);
        else expect([operators.DynamicQuantizeLinear, operators.MatMulInteger]).toEqual([1, 1]);
      });
    }
  }

  it('keeps a weight matching keepFloat in float (a plain MatMul)', async () => {
    const name = 'model.layers.0.mlp.up_proj.weight';
    const { operators, facts } = await linearSession(name, testWeights(M, H, 5), { mode: 'weight-only', keepFloat: ['up_proj'] });
    expect(operators).toEqual({ MatMul: 1, Identity: 1 }); // the Identity names the graph output
    expect(facts.keptFloat).toEqual([name]);
    expect(facts.quantized).toBeUndefined();
  });
});
