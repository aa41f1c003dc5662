/**
 * Cross-backend agreement (`optibench compare --backends onnx,pytorch`): the same configuration on two
 * backends, on the same items and weights, should give the same log-likelihoods to within float rounding and
 * the same predictions. Computed from the two runs' results alone (the stored per-choice log-likelihoods and
 * predictions), after the gate has checked they scored the same items.
 */
import { z } from 'zod';
import type { InferenceResult } from './results.js';

export const agreementSchema = z.object({
  /** Which backends were compared: [baseline's, candidate's]. */
  backends: z.tuple([z.string(), z.string()]),
  /** Requests (item x choice) compared. */
  requests: z.number().int().nonnegative(),
  /** Largest |difference| of one request's summed log-likelihood between the two runs. */
  maxLoglikelihoodDiff: z.number().nonnegative(),
  /** Mean |difference| over the requests. */
  meanLoglikelihoodDiff: z.number().nonnegative(),
  /** Where the largest difference is: dataset index and choice. */
  maxAt: z.object({ index: z.number().int(), choice: z.number().int() }).nullable(),
  /** Per metric, the share of items both runs predicted the same choice for (0..1). */
  samePrediction: z.record(z.string(), z.number().min(0).max(1)),
  /** Share of requests whose greedy flag (every token the arg-max) is the same in both runs. */
  sameGreedy: z.number().min(0).max(1),
});

export type Agreement = z.infer<typeof agreementSchema>;

/** Agreement of two complete runs over the same items (the caller checks that: see gate.ts checkSameItems). */
export function agreementOf(baseline: InferenceResult, candidate: InferenceResult): Agreement {
  let max = 0;
  let sum = 0;
  let requests = 0;
  let sameGreedy = 0;
  let maxAt: Agreement['maxAt'] = null;
  const metrics = Object.keys(baseline.payload.items[0]?.predictions ?? {});
  const same: Record<string, number> = Object.fromEntries(metrics.map((m) => [m, 0]));
  baseline.payload.items.forEach((a, i) => {
    const b = candidate.payload.items[i]!;
    a.loglikelihoods.forEach((x, choice) => {
      const diff = Math.abs(x - b.loglikelihoods[choice]!);
      sum += diff;
      requests++;
      if (maxAt === null || diff > max) {
        max = diff;
        maxAt = { index: a.index, choice };
      }
      if (a.isGreedy[choice] === b.isGreedy[choice]) sameGreedy++;
    });
    for (const m of metrics) if (a.predictions[m] === b.predictions[m]) same[m]!++;
  });
  const items = baseline.payload.items.length;
  return {
    backends: [baseline.payload.backend.name, candidate.payload.backend.name],
    requests,
    maxLoglikelihoodDiff: max,
    meanLoglikelihoodDiff: requests ? sum / requests : 0,
    maxAt,
    samePrediction: Object.fromEntries(metrics.map((m) => [m, items ? same[m]! / items : 1])),
    sameGreedy: requests ? sameGreedy / requests : 1,
  };
}

/** One line for the terminal. */
export function agreementLine(a: Agreement): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const same = Object.entries(a.samePrediction)
    .map(([m, share]) => `${m} ${pct(share)}`)
    .join(', ');
  return (
    `agreement  ${a.backends[0]} vs ${a.backends[1]}: largest log-likelihood difference ${a.maxLoglikelihoodDiff.toExponential(2)} ` +
    `(mean ${a.meanLoglikelihoodDiff.toExponential(2)}, ${a.requests} requests) · same prediction: ${same} · same greedy flags ${pct(a.sameGreedy)}`
  );
}
