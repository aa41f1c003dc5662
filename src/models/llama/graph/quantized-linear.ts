/**
 * Quantized linear layers (the quantization plugin's `quantization` build setting), as a `LinearPart`:
 *
 * - `dynamic-int8` (W8A8): weights quantized at build time to int8, symmetric, one scale per output channel;
 *   activations quantized at run time to uint8 (per tensor, asymmetric) by ONNX Runtime. Two ways to emit it:
 *   `matmul-integer`: DynamicQuantizeLinear -> MatMulInteger (uint8 x int8, with both zero points) -> Cast ->
 *   Mul by (activation scale x per-channel weight scale), the standard-operator form; and
 *   `dynamic-quantize-matmul`: the one contrib kernel com.microsoft.DynamicQuantizeMatMul. (ONNX Runtime's
 *   `extended` graph optimisations fuse the first into the second, so at the default level `all` both run the
 *   same kernel; the difference shows with `graphOptimizationLevel: basic` or `disabled`.) Either way one
 *   activation scale covers the whole tensor, i.e. the whole batch; `activations: per-token` instead gives each
 *   row (token) its own symmetric scale, computed with standard operators before MatMulInteger, so a request's
 *   answer no longer depends on the requests batched with it.
 * - `weight-only`: block-wise com.microsoft.MatMulNBits (4 or 8 bits), asymmetric with a zero point per block,
 *   packed exactly as ONNX Runtime's contrib operator spec says (see `quantizeBlockwise`).
 *
 * Weights whose name matches a `keepFloat` pattern stay in the model's float type (the plain linear part).
 */
import { z } from 'zod';
import { float16ToFloat32, float32ToFloat16 } from '../../float16.js';
import { ElemType, attr } from '../../onnx-builder.js';
import { recordFact, toFloat, toModel, type BuildContext } from './context.js';
import type { LinearPart, LinearWeight } from './parts.js';
import { plainLinear, weightShape } from './plain.js';
import { signedInt8MatmulExact } from '../../cpu-features.js';

/**
 * Left in full precision by default. The LM head turns the last hidden state into the logits whose argmax
 * decides `is_greedy` and whose log-softmax is the very number HellaSwag sums: its error lands directly on
 * the score, with no later layer to average it out, and it is one matmul per scored position (cheap next to
 * the layers, especially with head-pruning). `embed_tokens` is a lookup table (Gather), not a matmul, so
 * quantizing it saves memory but no time; with tied embeddings it is also the LM head.
 */
export const DEFAULT_KEEP_FLOAT = ['^lm_head\\.weight$', 'embed_tokens'] as const;

/** A regular expression's source, checked to compile. */
export const regexPatternSchema = z.string().refine(
  (source) => {
    try {
      new RegExp(source);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);

const keepFloat = z.array(regexPatternSchema).default([...DEFAULT_KEEP_FLOAT]);

/** ONNX Runtime's MatMulNBits: block_size is a power of two, at least 16. */
export const blockSizeSchema = z
  .number()
  .int()
  .min(16, 'blockSize must be a power of two >= 16')
  .refine((n) => (n & (n - 1)) === 0, { message: 'blockSize must be a power of two >= 16' });

export const DYNAMIC_INT8_KERNELS = ['matmul-integer', 'dynamic-quantize-matmul'] as const;
export const INT8_WEIGHT_STORAGES = ['signed', 'unsigned', 'signed-7bit'] as const;
export type Int8WeightStorage = (typeof INT8_WEIGHT_STORAGES)[number];

/** The storage used when the settings name none: the fastest exact one on this CPU. */
export function defaultInt8Weights(): Int8WeightStorage {
  return signedInt8MatmulExact() ? 'signed' : 'signed-7bit';
}

export const quantizationSettingsSchema = z.discriminatedUnion('mode', [
  z.strictObject({
    mode: z.literal('dynamic-int8'),
    kernel: z.enum(DYNAMIC_INT8_KERNELS).default('dynamic-quantize-matmul'),
    /**
     * `per-tensor`: ONNX Runtime's dynamic quantization, one uint8 scale and zero point for the whole
     * activation tensor, i.e. the whole batch (padding included), so a request's answer depends on the other
     * requests in its batch. `per-token`: one symmetric scale per row (token), so answers do not depend on the
     * batch; built from standard operators around MatMulInteger (the `matmul-integer` kernel only).
     */
    activations: z.enum(['per-tensor', 'per-token']).default('per-tensor'),
    /**
     * How the int8 codes are stored. `signed`: int8, run by uint8 x int8 kernels (the fastest where the CPU has
     * VNNI). `unsigned`: the same codes + 128 as uint8 with zero point 128, run by uint8 x uint8 kernels: the
     * same integers, exact on every CPU, but MLAS widens to 16 bits first and runs them at about half the rate.
     * `signed-7bit`: codes in [-63, 63] (scale max|w| / 63) stored as int8, so the uint8 x int8 kernels cannot
     * saturate even without VNNI (2 x 255 x 63 < 32767): fast and exact, at half the weight resolution (ONNX
     * Runtime's own quantizer calls this reduce_range). Absent: chosen for this machine when the graph is built
     * (`withInt8WeightsForThisCpu`): `signed` with VNNI, `signed-7bit` on x86-64 without.
     */
    int8Weights: z.enum(INT8_WEIGHT_STORAGES).optional(),
    keepFloat,
  })
    .refine((s) => s.activations === 'per-tensor' || s.kernel === 'matmul-integer', {
      message: 'per-token activation scales need kernel "matmul-integer" (DynamicQuantizeMatMul quantizes per tensor)',
      path: ['activations'],
    }),
  z.strictObject({
    mode: z.literal('weight-only'),
    bits: z.union([z.literal(4), z.literal(8)], { message: 'bits must be 4 or 8' }).default(4),
    blockSize: blockSizeSchema.default(32),
    /**
     * MatMulNBits' `accuracy_level`: 0 unset (A stays float), 1 fp32, 2 fp16, 3 bf16, 4 int8 (A quantized
     * per block to int8 inside the kernel: faster, less exact).
     */
    accuracyLevel: z.number().int().min(0).max(4).default(0),
    keepFloat,
  }),
]);

export type QuantizationSettings = z.infer<typeof quantizationSettingsSchema>;

/** Round half to even, as numpy's `rint` (and ONNX Runtime's quantizers) do. */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/**
 * Symmetric int8, one scale per output channel: `w` is [K, N] (inputs x outputs, the MatMul layout), and
 * scale[n] = max|w[:, n]| / maxCode in float32, q = clamp(rint(w / scale), -maxCode, maxCode). -128 is never
 * used, so the range is symmetric and the zero point is 0. `maxCode` 63 gives 7-bit codes (`signed-7bit`).
 */
export function quantizeInt8PerChannel(w: Float32Array, K: number, N: number, maxCode = 127): { q: Int8Array; scales: Float32Array } {
  const absMax = new Float32Array(N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) {
      const a = Math.abs(w[row + n]!);
      if (a > absMax[n]!) absMax[n] = a;
    }
  }
  const scales = new Float32Array(N);
  for (let n = 0; n < N; n++) scales[n] = absMax[n]! / maxCode;
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) {
      const s = scales[n]!;
      if (s === 0) continue;
      q[row + n] = Math.max(-maxCode, Math.min(maxCode, rint(Math.fround(w[row + n]! / s))));
    }
  }
  return { q, scales };
}

export interface BlockwiseQuantized {
  /** [N, kBlocks, blobSize] codes, `bits` each, packed low bits first along K. */
  readonly packed: Uint8Array;
  /** [N, kBlocks]. */
  readonly scales: Float32Array;
  /** [N, ceil(kBlocks * bits / 8)] zero points, packed like the codes, each row padded to a whole byte. */
  readonly zeroPoints: Uint8Array;
  readonly kBlocks: number;
}

/**
 * Block-wise asymmetric quantization in ONNX Runtime's MatMulNBits layout. `w` is [N, K] (outputs x inputs,
 * the checkpoint's layout); each row is cut into blocks of `blockSize` along K. Per block, over [lo, hi] =
 * [min(0, min w), max(0, max w)] (zero is kept exactly representable): scale = (hi - lo) / (2^bits - 1),
 * zero point zp = clamp(rint(-lo / scale)), code = clamp(rint(w / scale) + zp, 0, 2^bits - 1), so that
 * w ~ (code - zp) * scale. A last block shorter than `blockSize` is padded with its zero point (dequantizes
 * to exactly 0). `roundScale` rounds each scale to the type it is stored in (fp16) before codes are chosen.
 *
 * Asymmetric rather than symmetric: with 4 bits, a block whose values are not centred on zero would waste
 * part of its 16 levels; a zero point per block costs 4 (or 8) bits per block and nothing at run time.
 */
export function quantizeBlockwise(
  w: Float32Array,
  N: number,
  K: number,
  bits: 4 | 8,
  blockSize: number,
  roundScale: (s: number) => number = (s) => s,
): BlockwiseQuantized {
  const kBlocks = Math.ceil(K / blockSize);
  const blobSize = (blockSize * bits) / 8;
  const zpRow = Math.ceil((kBlocks * bits) / 8);
  const levels = (1 << bits) - 1;
  const packed = new Uint8Array(N * kBlocks * blobSize);
  const scales = new Float32Array(N * kBlocks);
  const zeroPoints = new Uint8Array(N * zpRow);
  const codes = new Uint8Array(blockSize);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < kBlocks; b++) {
      const start = n * K + b * blockSize;
      const length = Math.min(blockSize, K - b * blockSize);
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < length; i++) {
        const v = w[start + i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const scale = roundScale(Math.fround(Math.fround(hi - lo) / levels));
      let zp = 0;
      if (scale > 0) {
        zp = Math.max(0, Math.min(levels, rint(Math.fround(-lo / scale))));
        for (let i = 0; i < length; i++) codes[i] = Math.max(0, Math.min(levels, rint(Math.fround(w[start + i]! / scale)) + zp));
      } else {
        codes.fill(0, 0, length);
      }
      codes.fill(zp, length);
      scales[n * kBlocks + b] = scale;
      const blob = (n * kBlocks + b) * blobSize;
      if (bits === 8) {
        packed.set(codes, blob);
        zeroPoints[n * zpRow + b] = zp;
      } else {
        for (let i = 0; i < blockSize; i += 2) packed[blob + (i >> 1)] = codes[i]! | (codes[i + 1]! << 4);
        const at = n * zpRow + (b >> 1);
        zeroPoints[at] = zeroPoints[at]! | (b & 1 ? zp << 4 : zp);
      }
    }
  }
  return { packed, scales, zeroPoints, kBlocks };
}

const roundToFloat16 = (s: number) => float16ToFloat32(float32ToFloat16(s));

/** Running totals for the report: bytes the quantized weights take against their float form. */
const totals = new WeakMap<BuildContext, { float: number; quantized: number }>();

function account(ctx: BuildContext, name: string, floatBytes: number, quantizedBytes: number): void {
  const t = totals.get(ctx) ?? { float: 0, quantized: 0 };
  t.float += floatBytes;
  t.quantized += quantizedBytes;
  totals.set(ctx, t);
  recordFact(ctx, 'quantized', name);
  ctx.facts.quantizedWeightBytes = [`float ${t.float}`, `quantized ${t.quantized}`, `saved ${t.float - t.quantized}`];
}

/**
 * The build setting with the int8 weight storage chosen for this CPU when it says none, so that the graph and
 * its cache key say what was built (a graph built elsewhere with the other storage is another graph).
 */
export function withInt8WeightsForThisCpu(extra: { quantization?: unknown }): { quantization?: unknown } {
  const q = extra.quantization as QuantizationSettings | undefined;
  if (q?.mode !== 'dynamic-int8' || q.int8Weights !== undefined) return extra;
  return { ...extra, quantization: { ...q, int8Weights: defaultInt8Weights() } };
}

function describe(settings: QuantizationSettings): string {
  return settings.mode === 'dynamic-int8'
    ? `dynamic-int8 (${settings.kernel}, activations ${settings.activations}, ${settings.int8Weights ?? defaultInt8Weights()} int8 weights)`
    : `weight-only MatMulNBits bits=${settings.bits} blockSize=${settings.blockSize} accuracyLevel=${settings.accuracyLevel}`;
}

/** The linear part for a `quantization` build setting. */
export function quantizedLinear(settings: QuantizationSettings): LinearPart {
  const keep = settings.keepFloat.map((source) => new RegExp(source));
  return {
    async prepare(ctx, name): Promise<LinearWeight> {
      recordFact(ctx, 'quantization', describe(settings));
      if (keep.some((re) => re.test(name))) {
        recordFact(ctx, 'keptFloat', name);
        const plain = await plainLinear.prepare(ctx, name);
        return { ...plain, names: { ...plain.names, form: 'float' } };
      }
      const [outFeatures, inFeatures] = weightShape(ctx.config, name);
      const floatBytes = outFeatures * inFeatures * (ctx.T === ElemType.FLOAT16 ? 2 : 4);
      if (settings.mode === 'dynamic-int8') {
        const { values } = await ctx.weights.read(name, true);
        const storage = settings.int8Weights ?? defaultInt8Weights();
        const { q, scales } = quantizeInt8PerChannel(values, inFeatures, outFeatures, storage === 'signed-7bit' ? 63 : 127);
        const unsigned = storage === 'unsigned';
        const codes = unsigned ? Uint8Array.from(q, (c) => c + 128) : new Uint8Array(q.buffer);
        const weight = await ctx.weights.write(`${name}.${unsigned ? 'uint8' : 'int8'}`, unsigned ? ElemType.UINT8 : ElemType.INT8, [inFeatures, outFeatures], codes, name);
        const scale = await ctx.weights.write(`${name}.scale`, ElemType.FLOAT, [outFeatures], new Uint8Array(scales.buffer));
        const zeroPoint = unsigned
          ? ctx.g.constant(ElemType.UINT8, [outFeatures], new Uint8Array(outFeatures).fill(128))
          : ctx.g.constant(ElemType.INT8, [outFeatures], new Int8Array(outFeatures));
        account(ctx, name, floatBytes, q.byteLength + scales.byteLength);
        return { names: { form: 'int8', weight, scale, zeroPoint }, inFeatures, outFeatures };
      }
      const { values } = await ctx.weights.read(name, false);
      const fp16 = ctx.T === ElemType.FLOAT16;
      const { packed, scales, zeroPoints, kBlocks } = quantizeBlockwise(values, outFeatures, inFeatures, settings.bits, settings.blockSize, fp16 ? roundToFloat16 : undefined);
      const blobSize = (settings.blockSize * settings.bits) / 8;
      const scaleBytes = fp16 ? new Uint8Array(Uint16Array.from(scales, float32ToFloat16).buffer) : new Uint8Array(scales.buffer);
      const weight = await ctx.weights.write(`${name}.q${settings.bits}`, ElemType.UINT8, [outFeatures, kBlocks, blobSize], packed, name);
      const scale = await ctx.weights.write(`${name}.scales`, ctx.T, [outFeatures, kBlocks], scaleBytes);
      const zeroPoint = await ctx.weights.write(`${name}.zero_points`, ElemType.UINT8, [outFeatures, zeroPoints.length / outFeatures], zeroPoints);
      account(ctx, name, floatBytes, packed.byteLength + scaleBytes.byteLength + zeroPoints.byteLength);
      return { names: { form: 'nbits', weight, scale, zeroPoint }, inFeatures, outFeatures };
    },

    apply(ctx, x, weight: LinearWeight) {
      const { g } = ctx;
      const { form, weight: w, scale, zeroPoint } = weight.names;
      if (form === 'float') return plainLinear.apply(ctx, x, weight);
      if (form === 'nbits') {
        if (settings.mode !== 'weight-only') throw new Error('unreachable: MatMulNBits weight outside weight-only mode');
        return g.node(
          'MatMulNBits',
          [x, w!, scale!, zeroPoint!],
          {
            K: attr.int(weight.inFeatures),
            N: attr.int(weight.outFeatures),
            bits: attr.int(settings.bits),
            block_size: attr.int(settings.blockSize),
            accuracy_level: attr.int(settings.accuracyLevel),
          },
          { domain: 'com.microsoft' },
        )[0]!;
      }
      if (settings.mode !== 'dynamic-int8') throw new Error('unreachable: int8 weight outside dynamic-int8 mode');
      // ONNX Runtime quantizes activations from float32 only: an fp16 model casts around the quantized matmul.
      const xf = toFloat(ctx, x);
      if (settings.kernel === 'dynamic-quantize-matmul') {
        return toModel(ctx, g.node('DynamicQuantizeMatMul', [xf, w!, scale!, zeroPoint!], {}, { domain: 'com.microsoft' })[0]!);
      }
      if (settings.activations === 'per-token') {
        // One symmetric scale per row (token): s = max|x| / 127, q = rint(x / s) + 128 as uint8. The rows are
        // flattened to 2-D so one per-axis QuantizeLinear does divide, round, shift and cast in a single pass,
        // and MatMulIntegerToFloat applies the per-channel weight scales inside the GEMM's output stage; only
        // the row scale is left as a Mul. (Each was its own pass over the tensor before: 10 operators, 8 of
        // them over whole activations, which cost more than the integer GEMM saved on this model.)
        const rows = g.op('Reshape', [xf, g.int64s([-1, weight.inFeatures])]);
        const absMax = g.op('ReduceMax', [g.op('Abs', [rows])], { axes: attr.ints([-1]), keepdims: attr.int(0) });
        const rowScale = g.op('Max', [g.op('Div', [absMax, g.scalar(ElemType.FLOAT, 127)]), g.scalar(ElemType.FLOAT, 1e-30)]);
        const rowZeroPoint = g.op('Expand', [g.scalar(ElemType.UINT8, 128), g.op('Shape', [rowScale])]);
        const xq = g.op('QuantizeLinear', [rows, rowScale, rowZeroPoint], { axis: attr.int(0) });
        const product = g.op('MatMulIntegerToFloat', [xq, w!, g.scalar(ElemType.FLOAT, 1), scale!, g.scalar(ElemType.UINT8, 128), zeroPoint!], {}, 'com.microsoft');
        const scaled = g.op('Mul', [product, g.op('Unsqueeze', [rowScale, g.int64s([1])])]);
        const outShape = g.op('Concat', [g.op('Slice', [g.op('Shape', [xf]), g.int64s([0]), g.int64s([-1])]), g.int64s([weight.outFeatures])], { axis: attr.int(0) });
        return toModel(ctx, g.op('Reshape', [scaled, outShape]));
      }
      // uint8 activations (DynamicQuantizeLinear's only output type) x int8 weights, the pair MLAS runs fastest.
      const [xq, xScale, xZeroPoint] = g.node('DynamicQuantizeLinear', [xf], {}, { outputs: 3 });
      const accumulated = g.op('MatMulInteger', [xq!, w!, xZeroPoint!, zeroPoint!]);
      const combinedScale = g.op('Mul', [xScale!, scale!]);
      return toModel(ctx, g.op('Mul', [g.op('Cast', [accumulated], { to: attr.int(ElemType.FLOAT) }), combinedScale]));
    },
  };
}
