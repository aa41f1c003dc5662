/**
 * The task contract: documents -> requests -> metrics.
 *
 * A task turns a dataset into documents, each document into text log-likelihood requests (context,
 * continuation) and, once a backend has answered them, into per-document outcomes and aggregate metrics.
 * Gold labels stay inside the task: requests carry no label, so no backend or submission can see one.
 */
import type { MetricValue } from './result.js';

/** A multiple-choice document after the task's preprocessing. */
export interface MultipleChoiceDoc {
  /** Position in the full dataset file (0-based); stable across --limit and shuffling. */
  readonly index: number;
  /** Where the document came from, for error messages and reports (`file:line`). */
  readonly source: string;
  /** The context every choice is scored after. */
  readonly query: string;
  /** The candidate continuations, without the target delimiter. */
  readonly choices: readonly string[];
  /** Index of the correct choice. Never leaves the task except into results for offline rescoring. */
  readonly gold: number;
}

/** One log-likelihood request in text form, as lm-evaluation-harness issues them. */
export interface TextRequest {
  /** Index of the document in the task's document list (not the dataset index). */
  readonly doc: number;
  readonly choice: number;
  readonly context: string;
  readonly continuation: string;
}

/** What a backend answered for one request: summed log-probability of the continuation and greediness. */
export interface LoglikelihoodAnswer {
  readonly logprob: number;
  readonly isGreedy: boolean;
}

/** A metric with its standard error (sample standard deviation / sqrt(n)); null when n < 2 (undefined). */
export type { MetricValue };

/** The stored facts a metric needs: enough to rescore offline without the dataset or the model. */
export interface ScoredDoc {
  readonly gold: number;
  /** Length in characters (Unicode code points, as Python's len) of each choice. */
  readonly choiceChars: readonly number[];
  readonly loglikelihoods: readonly number[];
}

/** Per-document predictions and correctness for each metric, e.g. { acc: 2, acc_norm: 1 }. */
export interface DocOutcome {
  readonly predictions: Readonly<Record<string, number>>;
  readonly correct: Readonly<Record<string, 0 | 1>>;
}

export interface Task<Doc extends MultipleChoiceDoc = MultipleChoiceDoc> {
  readonly name: string;
  /** Bumped whenever preprocessing, requests or metrics change, so results say which rules scored them. */
  readonly version: string;
  /** The metric names `aggregate` returns, in display order. */
  readonly metrics: readonly string[];
  /** The metric a run is judged by (the accuracy gate, the report's first figure). */
  readonly headlineMetric: string;
  /** Every document of the dataset file, in file order (the runner picks `--limit` subsets). */
  load(path: string): Promise<Doc[]>;
  requests(doc: Doc, docPosition: number): TextRequest[];
  /** Facts to keep per document so `score` can run again offline (rescore). */
  toScored(doc: Doc, answers: readonly LoglikelihoodAnswer[]): ScoredDoc;
  score(doc: ScoredDoc): DocOutcome;
  aggregate(outcomes: readonly DocOutcome[]): Record<string, MetricValue>;
}
