/**
 * The machine's fp32 matmul peak, measured in the same invocation as the runs it is compared with (clock
 * speed, thermal state and neighbours change between invocations): one ONNX MatMul of LLaMA-like shape,
 * run by ONNX Runtime with the runs' thread setting, timed with tinybench.
 */
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { ElemType, GraphBuilder } from '../../models/onnx-builder.js';
import { latencySchema, timeWithTinybench, type MicroOptions } from './micro.js';

export interface MatmulShape {
  readonly m: number;
  readonly k: number;
  readonly n: number;
}

/** [M, K] x [K, N]: a batch of hidden states through an MLP-sized weight of the benchmark model. */
export const PEAK_SHAPE: MatmulShape = { m: 384, k: 768, n: 2048 };

export const peakSchema = z.object({
  op: z.literal('MatMul'),
  shape: z.object({ m: z.number().int(), k: z.number().int(), n: z.number().int() }),
  /** The runs' execution provider: the peak is that of the device the forward ran on. */
  executionProvider: z.enum(['cpu', 'cuda']),
  /** The session's intra-op threads; 0 = ONNX Runtime's default (one per physical core), as in the runs. */
  intraOpThreads: z.number().int().nonnegative(),
  flops: z.number(),
  latency: latencySchema,
  /**
   * FLOPs over the fastest sample's latency: the peak is what this MatMul can do here, and on a shared VM the
   * typical call is slowed by neighbours and thread wake-ups (a median-based peak came out below what whole
   * forwards sustained, i.e. above 100 % of "peak").
   */
  gflopsPerSecond: z.number(),
  /** FLOPs over the median (p50) latency, for reference. */
  p50GflopsPerSecond: z.number().optional(),
});

export type Peak = z.infer<typeof peakSchema>;

export function matmulModel(shape: MatmulShape): Uint8Array {
  const g = new GraphBuilder('matmul_peak');
  const a = g.input('a', ElemType.FLOAT, [shape.m, shape.k]);
  // The weight is an initializer, as in the model: only the activations are fed (and copied) per call.
  const b = g.constant(ElemType.FLOAT, [shape.k, shape.n], filled(shape.k * shape.n, 2));
  g.output(g.op('MatMul', [a, b]), 'c', ElemType.FLOAT, [shape.m, shape.n]);
  return g.serialize({ '': 17 });
}

export function filled(length: number, salt: number): Float32Array {
  // Ordinary magnitudes, no denormals: the peak must not depend on the values' bit patterns.
  return Float32Array.from({ length }, (_, i) => (((i * 7919 + salt) % 1000) - 500) / 1000);
}

export async function measureMatmulPeak(
  session: { executionProvider: 'cpu' | 'cuda'; intraOpThreads: number },
  options: MicroOptions,
  shape: MatmulShape = PEAK_SHAPE,
): Promise<Peak> {
  const { executionProvider, intraOpThreads } = session;
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  };
  if (intraOpThreads > 0) sessionOptions.intraOpNumThreads = intraOpThreads;
  const ortSession = await ort.InferenceSession.create(matmulModel(shape), sessionOptions);
  try {
    const feeds = { a: new ort.Tensor('float32', filled(shape.m * shape.k, 1), [shape.m, shape.k]) };
    const latency = await timeWithTinybench('matmul peak', async () => {
      const out = await ortSession.run(feeds);
      for (const value of Object.values(out)) value.dispose();
    }, options);
    const flops = 2 * shape.m * shape.k * shape.n;
    const gflops = (ms: number) => flops / (ms / 1000) / 1e9;
    return { op: 'MatMul', shape: { ...shape }, executionProvider, intraOpThreads, flops, latency, gflopsPerSecond: gflops(latency.minMs), p50GflopsPerSecond: gflops(latency.p50Ms) };
  } finally {
    await ortSession.release();
  }
}
