/**
 * The accuracy gate on the embedded tiny model (all 40 items): dynamic int8, the plugin's default, passes it;
 * kernel fusion keeps every prediction. The gate's verdict is computed from the two runs' per-item
 * predictions, which the test also counts itself.
 */
import { describe, expect, it } from 'vitest';
import type { InferenceResult } from '../../src/evaluators/inference/results.js';
import { judge } from '../../src/evaluators/inference/gate.js';
import { tinyRun } from '../evaluators/tiny-run.js';

function samePredictions(a: InferenceResult, b: InferenceResult, metric: string): number {
  const same = a.payload.items.filter((item, i) => item.predictions[metric] === b.payload.items[i]!.predictions[metric]).length;
  return same / a.payload.items.length;
}

describe('the gate on the tiny model', () => {
  it('dynamic int8 (per-token activations) passes the default gate: acc_norm drops by at most 0.5 points', async () => {
    const baseline = await tinyRun();
    const int8 = await tinyRun({ plugins: ['quantization'] });
    expect(int8.payload.backend.build).toMatchObject({ extra: { quantization: { mode: 'dynamic-int8' } } });
    // The model really ran in int8: its log-likelihoods moved.
    const moved = int8.payload.items.some((item, i) => item.loglikelihoods.some((ll, j) => Math.abs(ll - baseline.payload.items[i]!.loglikelihoods[j]!) > 1e-3));
    expect(moved).toBe(true);
    const gate = judge(baseline, int8, { metric: 'acc_norm', maxDropPoints: 0.5 });
    const dropPoints = 100 * (baseline.metrics.acc_norm!.value - int8.metrics.acc_norm!.value);
    expect(dropPoints).toBeLessThanOrEqual(0.5);
    expect(gate.verdict.pass).toBe(true);
    // 40 items: a single flipped item would be 2.5 points, so passing means no net loss of a correct answer.
    expect(samePredictions(baseline, int8, 'acc_norm')).toBeGreaterThanOrEqual(0.95);
  });

  it('kernel fusion: identical predictions on every item (the target is >= 99.5 %), and the gate passes', async () => {
    const baseline = await tinyRun();
    const fused = await tinyRun({ plugins: ['kernel-fusion'] });
    expect(samePredictions(baseline, fused, 'acc')).toBe(1);
    expect(samePredictions(baseline, fused, 'acc_norm')).toBe(1);
    expect(judge(baseline, fused, { metric: 'acc_norm', maxDropPoints: 0.5 }).verdict.pass).toBe(true);
    const worst = Math.max(...fused.payload.items.flatMap((item, i) => item.loglikelihoods.map((ll, j) => Math.abs(ll - baseline.payload.items[i]!.loglikelihoods[j]!))));
    expect(worst).toBeLessThan(1e-4);
  });
});
