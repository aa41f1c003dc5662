/**
 * Rescoring: every metric recomputed offline from the log-likelihoods a results file stores, with no
 * model and no dataset. Other harnesses keep only the aggregate; optibench keeps enough to redo it.
 */
import { getTask } from '../../tasks/index.js';
import type { InferenceResult } from './results.js';
import type { MetricValue } from '../../core/task.js';

export interface Rescore {
  readonly metrics: Record<string, MetricValue>;
  /** Items whose stored prediction differs from the recomputed one, per metric. */
  readonly changedPredictions: Record<string, number>;
  /** Largest difference between a stored and a recomputed metric value or stderr. */
  readonly maxMetricDifference: number;
}

export function rescore(results: InferenceResult): Rescore {
  const task = getTask(results.payload.task.name);
  const changedPredictions: Record<string, number> = {};
  const outcomes = results.payload.items.map((item) => {
    const outcome = task.score({ gold: item.gold, choiceChars: item.choiceChars, loglikelihoods: item.loglikelihoods });
    for (const [metric, choice] of Object.entries(outcome.predictions)) {
      if (item.predictions[metric] !== choice) changedPredictions[metric] = (changedPredictions[metric] ?? 0) + 1;
    }
    return outcome;
  });
  const metrics = outcomes.length ? task.aggregate(outcomes) : {};
  let maxMetricDifference = 0;
  for (const [name, value] of Object.entries(metrics)) {
    const stored = results.metrics[name];
    if (!stored) {
      maxMetricDifference = Number.POSITIVE_INFINITY;
      continue;
    }
    const stderrDifference = stored.stderr === null || value.stderr === null ? (stored.stderr === value.stderr ? 0 : Number.POSITIVE_INFINITY) : Math.abs(stored.stderr - value.stderr);
    maxMetricDifference = Math.max(maxMetricDifference, Math.abs(stored.value - value.value), stderrDifference);
  }
  return { metrics, changedPredictions, maxMetricDifference };
}
