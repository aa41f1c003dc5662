/**
 * Rescoring: every metric recomputed offline from the log-likelihoods a results file stores, with no
 * model and no dataset. Other harnesses keep only the aggregate; optibench keeps enough to redo it.
 */
import { getTask } from '../../tasks/index.js';
import type { InferenceResult } from './results.js';
import type { MetricValue } from '../../core/task.js';
import { OptibenchError } from '../../core/errors.js';

export interface Rescore {
  readonly metrics: Record<string, MetricValue>;
  /** Items whose stored prediction differs from the recomputed one, per metric. */
  readonly changedPredictions: Record<string, number>;
  /** Largest difference between a stored and a recomputed metric value or stderr. */
  readonly maxMetricDifference: number;
}

/**
 * What the schema cannot say about a results file: every item scorable (as many log-likelihoods, greedy flags
 * and continuation lengths as endings, the gold one of them) and as many items as the metrics were computed
 * over. Without it an item with 3 log-likelihoods for 4 endings ended in a stack trace, and a file with its
 * items removed but its metrics kept was called consistent.
 */
export function checkRescorable(results: InferenceResult, file: string): void {
  const items = results.payload.items;
  items.forEach((item, i) => {
    const where = { file, key: `payload.items[${i}]` };
    const endings = item.choiceChars.length;
    const name = `item ${i} (document ${item.index})`;
    if (endings < 2) throw new OptibenchError(`${name} has ${endings} ending${endings === 1 ? '' : 's'} (choiceChars): a multiple-choice item needs at least 2`, where);
    for (const [field, length] of [['loglikelihoods', item.loglikelihoods.length], ['isGreedy', item.isGreedy.length], ['continuationTokens', item.continuationTokens.length]] as const) {
      if (length !== endings) throw new OptibenchError(`${name} has ${length} ${field} for its ${endings} endings (choiceChars)`, where);
    }
    if (item.gold >= endings) throw new OptibenchError(`${name} has gold ${item.gold}, out of range for its ${endings} endings (0-${endings - 1})`, where);
    if (!item.loglikelihoods.every(Number.isFinite)) throw new OptibenchError(`${name} has a log-likelihood that is not a finite number`, where);
  });
  const selected = results.payload.task.dataset.selectedDocs;
  const stored = Object.keys(results.metrics);
  if (results.status === 'complete' && items.length !== selected) {
    throw new OptibenchError(`the run is complete over ${selected} items (payload.task.dataset.selectedDocs) but the file holds ${items.length}: its metrics cannot be checked`, { file, key: 'payload.items' });
  }
  if (items.length > selected) throw new OptibenchError(`the file holds ${items.length} items, more than the ${selected} the run selected (payload.task.dataset.selectedDocs)`, { file, key: 'payload.items' });
  if (items.length === 0 && stored.length > 0) {
    throw new OptibenchError(`the file holds no items but stores metrics (${stored.join(', ')}): they cannot follow from nothing`, { file, key: 'payload.items' });
  }
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
  // A stored metric nothing recomputes (removed items, an invented name) does not follow from the items either.
  if (Object.keys(results.metrics).some((name) => !(name in metrics))) maxMetricDifference = Number.POSITIVE_INFINITY;
  return { metrics, changedPredictions, maxMetricDifference };
}
