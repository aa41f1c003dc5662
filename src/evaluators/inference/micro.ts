/**
 * Per-batch micro-benchmarks with tinybench on the loaded model (called from the runner's afterInference,
 * so the model is not loaded twice). The measured repeats give the headline; these give the spread of one
 * backend call, which repeats of a whole pass average away.
 */
import { Bench } from 'tinybench';
import type { Backend, TokenRequest } from '../../core/backend.js';
import type { LoadedRun } from './runner.js';
import { positionsOf } from './plan.js';
import { z } from 'zod';

export interface MicroOptions {
  /** Time budget per benchmarked batch in ms (tinybench runs at least `minSamples` calls either way). */
  readonly timeMs: number;
  readonly minSamples: number;
}

export const DEFAULT_MICRO: MicroOptions = { timeMs: 500, minSamples: 5 };

export const latencySchema = z.object({
  meanMs: z.number(),
  p50Ms: z.number(),
  p99Ms: z.number(),
  minMs: z.number(),
  maxMs: z.number(),
  /** Relative margin of error of the mean (95 %), in percent. */
  rmePercent: z.number(),
  samples: z.number().int(),
});

export const microBatchSchema = z.object({
  /** Which representative batch: the one with the median token count, or the longest. */
  batch: z.enum(['median', 'longest']),
  /** Position of the batch in the run's schedule. */
  position: z.number().int().nonnegative(),
  requests: z.number().int(),
  /** Positions of the batch's requests run one by one (lm-eval's count), for per-token comparisons. */
  pairwiseTokens: z.number().int(),
  latency: latencySchema,
});

export type Latency = z.infer<typeof latencySchema>;
export type MicroBatch = z.infer<typeof microBatchSchema>;

function batchTokens(batch: readonly TokenRequest[]): number {
  return batch.reduce((sum, r) => sum + positionsOf(r), 0);
}

/** The batch of median token count and the longest one (one entry when they coincide). */
export function representativeBatches(batches: readonly (readonly TokenRequest[])[]): { batch: MicroBatch['batch']; position: number }[] {
  if (batches.length === 0) return [];
  const order = batches.map((b, position) => ({ position, tokens: batchTokens(b) })).sort((a, b) => a.tokens - b.tokens || a.position - b.position);
  const median = order[(order.length - 1) >> 1]!.position;
  const longest = order[order.length - 1]!.position;
  return median === longest ? [{ batch: 'median', position: median }] : [{ batch: 'median', position: median }, { batch: 'longest', position: longest }];
}

/** Times `fn` with tinybench and returns its latency statistics. */
export async function timeWithTinybench(name: string, fn: () => unknown, options: MicroOptions): Promise<Latency> {
  const bench = new Bench({ name, time: options.timeMs, iterations: options.minSamples, warmupIterations: 2, warmupTime: 0, throws: true });
  // An async function, so tinybench knows without a trial call: it detects other functions' promises by calling
  // them once unawaited, which would overlap two calls on a backend that takes one request at a time.
  bench.add(name, async () => {
    await fn();
  });
  const [task] = await bench.run();
  const result = task!.result;
  if (result.state !== 'completed') throw new Error(`tinybench did not complete "${name}" (state ${result.state})`);
  const l = result.latency;
  return { meanMs: l.mean, p50Ms: l.p50, p99Ms: l.p99, minMs: l.min, maxMs: l.max, rmePercent: l.rme, samples: l.samplesCount };
}

export async function microBenchmark(backend: Backend, batches: readonly (readonly TokenRequest[])[], options: MicroOptions): Promise<MicroBatch[]> {
  const out: MicroBatch[] = [];
  for (const { batch, position } of representativeBatches(batches)) {
    const requests = batches[position]!;
    const latency = await timeWithTinybench(`${batch} batch`, () => backend.loglikelihood(requests), options);
    out.push({ batch, position, requests: requests.length, pairwiseTokens: batchTokens(requests), latency });
  }
  return out;
}

/** The runner's afterInference hook: what it returns is stored as the run's `micro`. */
export function microObserver(options: MicroOptions): (run: LoadedRun) => Promise<{ batches: MicroBatch[] }> {
  return async ({ backend, batches }) => ({ batches: await microBenchmark(backend, batches, options) });
}

/** Reads the micro figures back from a results file (they are stored as free JSON there). */
export function microFromResults(micro: unknown): MicroBatch[] {
  const parsed = z.object({ batches: z.array(microBatchSchema) }).safeParse(micro);
  return parsed.success ? parsed.data.batches : [];
}
