/**
 * HellaSwag, zero-shot, as lm-evaluation-harness scores it (task `hellaswag`, version 1.0): each of the
 * four endings is a continuation of the query after a single space, scored by acc and acc_norm.
 */
import type { LoglikelihoodAnswer, ScoredDoc, Task, TextRequest } from '../../core/task.js';
import { loadHellaswag, type HellaswagDoc } from './load.js';
import { aggregateOutcomes, METRICS, scoreDoc } from './metrics.js';
import { codePointLength } from './preprocess.js';

export type { HellaswagDoc, DatasetFormat } from './load.js';
export { ENDINGS, UNLABELED_PLACEHOLDER_GOLD, UNLABELED_SUFFIX, detectFormat, loadHellaswag, parseJsonl, parseTextForm, parseUnlabeled, readDatasetBytes, unlabeledLine } from './load.js';
export { aggregateOutcomes, argmax, meanStderr, scoreDoc } from './metrics.js';
export { codePointLength, choiceFromTextForm, preprocess, processItem, pyCapitalize, pyStrip, queryFromTextForm } from './preprocess.js';

/** lm-eval's `target_delimiter` for multiple-choice tasks. */
export const TARGET_DELIMITER = ' ';

export function hellaswagRequests(doc: HellaswagDoc, docPosition: number): TextRequest[] {
  return doc.choices.map((choice, i) => ({
    doc: docPosition,
    choice: i,
    context: doc.query,
    continuation: TARGET_DELIMITER + choice,
  }));
}

export function toScoredDoc(doc: HellaswagDoc, answers: readonly LoglikelihoodAnswer[]): ScoredDoc {
  if (answers.length !== doc.choices.length) {
    throw new Error(`document ${doc.source} has ${doc.choices.length} choices but ${answers.length} answers`);
  }
  return {
    gold: doc.gold,
    choiceChars: doc.choices.map(codePointLength),
    loglikelihoods: answers.map((answer) => answer.logprob),
  };
}

export const hellaswagTask: Task<HellaswagDoc> = {
  name: 'hellaswag',
  version: '1.0',
  metrics: METRICS,
  // acc_norm is the figure HellaSwag is usually quoted by (Open LLM Leaderboard, LLaMA papers).
  headlineMetric: 'acc_norm',
  load: loadHellaswag,
  requests: hellaswagRequests,
  toScored: toScoredDoc,
  score: scoreDoc,
  aggregate: aggregateOutcomes,
};
