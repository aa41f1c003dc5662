/**
 * lm-eval's multiple-choice metrics: `acc` picks the choice with the highest summed log-likelihood,
 * `acc_norm` the highest log-likelihood per character of the choice (`len(choice)` in Python: code
 * points, without the target delimiter). Aggregates are means with lm-eval's `mean_stderr`.
 */
import type { DocOutcome, MetricValue, ScoredDoc } from '../../core/task.js';

export const METRICS = ['acc', 'acc_norm'] as const;
export type HellaswagMetric = (typeof METRICS)[number];

/**
 * `numpy.argmax`: the first maximum wins a tie, and a NaN counts as the maximum (the first NaN wins), so a
 * backend's NaN shows up as a definite, reproducible prediction rather than being skipped.
 */
export function argmax(values: readonly number[]): number {
  if (values.length === 0) throw new Error('argmax of an empty list');
  let best = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) return i;
    if (v > values[best]!) best = i;
  }
  return best;
}

export function scoreDoc(doc: ScoredDoc): DocOutcome {
  const { gold, choiceChars, loglikelihoods } = doc;
  if (loglikelihoods.length === 0 || choiceChars.length !== loglikelihoods.length) {
    throw new Error(`a scored document needs one length per log-likelihood, got ${choiceChars.length} and ${loglikelihoods.length}`);
  }
  if (!Number.isInteger(gold) || gold < 0 || gold >= loglikelihoods.length) {
    throw new Error(`gold ${gold} is not a choice index (0-${loglikelihoods.length - 1})`);
  }
  const acc = argmax(loglikelihoods);
  // Float division as numpy does it: a zero length gives ±Infinity or NaN, never an exception.
  const accNorm = argmax(loglikelihoods.map((ll, i) => ll / choiceChars[i]!));
  return {
    predictions: { acc, acc_norm: accNorm },
    correct: { acc: acc === gold ? 1 : 0, acc_norm: accNorm === gold ? 1 : 0 },
  };
}

/**
 * Mean and lm-eval's `mean_stderr`: sample standard deviation (n - 1) over sqrt(n), summed in order as
 * Python's `sum` does before 3.12. With one value the sample deviation is undefined; lm-eval then
 * reports "N/A", so stderr is null (a report prints no ±); never 0, which would claim certainty.
 */
export function meanStderr(values: readonly number[]): MetricValue {
  const n = values.length;
  if (n === 0) throw new Error('cannot aggregate zero documents');
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  if (n === 1) return { value: mean, stderr: null };
  let squares = 0;
  for (const v of values) squares += (v - mean) ** 2;
  return { value: mean, stderr: Math.sqrt(squares / (n - 1)) / Math.sqrt(n) };
}

export function aggregateOutcomes(outcomes: readonly DocOutcome[]): Record<HellaswagMetric, MetricValue> {
  const column = (metric: HellaswagMetric): number[] =>
    outcomes.map((outcome, i) => {
      const value = outcome.correct[metric];
      if (value !== 0 && value !== 1) throw new Error(`outcome ${i} has no 0/1 value for ${metric}`);
      return value;
    });
  return { acc: meanStderr(column('acc')), acc_norm: meanStderr(column('acc_norm')) };
}
