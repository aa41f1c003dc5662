/**
 * The per-run HTML report: one standalone page (no scripts, no external resources) rendered from the
 * nunjucks templates in reports/templates/. Templates get the results as they are plus a few derived
 * values computed here, so that the templates hold layout and the arithmetic stays testable in TypeScript.
 */
import path from 'node:path';
import type nunjucks from 'nunjucks';
import { writeFileAtomic } from '../../../core/atomic-file.js';
import { recordedSelection, type ItemResult, type InferenceResult } from '../results.js';
import { describeSelection } from '../../../core/subset.js';
import { createReportEnvironment } from '../../../report/environment.js';
import { formatFixed, formatInt } from '../../../report/filters.js';

/** Config keys worth a line of their own; the whole config is in the report too. */
const MODEL_CONFIG_FACTS = [
  'model_type',
  'architectures',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'vocab_size',
  'max_position_embeddings',
  'rope_theta',
  'rms_norm_eps',
  'tie_word_embeddings',
  'torch_dtype',
];

/** Plain-text marks for the choice each metric picked: no per-cell markup, so 10,042 rows stay light. */
const PICK_MARKS = ['†', '‡', '§', '¶', '#', '*'];

export interface MetricView {
  readonly name: string;
  readonly value: number;
  readonly stderr: number;
  readonly headline: boolean;
  /** Mark of this metric's pick in the per-item table ('' when the items do not record it). */
  readonly mark: string;
}

export function renderRunReport(results: InferenceResult): string {
  const metrics = metricViews(results);
  const choiceCount = results.payload.items.reduce((max, item) => Math.max(max, item.loglikelihoods.length), 0);
  return environment().render('run.njk', {
    r: results,
    metrics,
    shortSha: results.payload.model.weightsSha256.slice(0, 12),
    datasetShortSha: results.payload.task.dataset.sha256.slice(0, 12),
    selectionText: selectionText(results.payload.task.dataset),
    modelFacts: Object.fromEntries(
      MODEL_CONFIG_FACTS.filter((key) => key in results.payload.model.config).map((key) => [key, results.payload.model.config[key]]),
    ),
    choiceColumns: Array.from({ length: choiceCount }, (_, i) => i),
    itemRows: results.payload.items.map((item) => itemRow(item, metrics, choiceCount)),
  });
}

/** Which items, and how they were chosen (seeded subset, first n, listed indices). */
function selectionText(ds: InferenceResult['payload']['task']['dataset']): string {
  return describeSelection(recordedSelection(ds), ds.selectedDocs, ds.totalDocs, formatInt);
}

/** Writes `<dir>/index.html` atomically, so a reader never sees half a report. Returns its path. */
export async function writeRunReport(results: InferenceResult, dir: string): Promise<string> {
  return writeFileAtomic(path.join(dir, 'index.html'), renderRunReport(results));
}

function metricViews(results: InferenceResult): MetricView[] {
  // The headline metric first, then the task's display order; metrics that only appear in item
  // predictions still get a mark so every pick in the table is explained.
  const names = [results.payload.primaryMetric, ...Object.keys(results.metrics).filter((n) => n !== results.payload.primaryMetric)];
  for (const item of results.payload.items) for (const name of Object.keys(item.predictions)) if (!names.includes(name)) names.push(name);
  let marks = 0;
  const predicted = new Set(results.payload.items.flatMap((item) => Object.keys(item.predictions)));
  return names.map((name) => {
    const metric = results.metrics[name];
    return {
      name,
      value: metric?.value ?? Number.NaN,
      stderr: metric?.stderr ?? Number.NaN,
      headline: name === results.payload.primaryMetric,
      mark: predicted.has(name) ? (PICK_MARKS[marks++] ?? `[${name}]`) : '',
    };
  });
}

/** One table row as ready-made cell texts: the template only loops, which keeps 10k rows fast. */
function itemRow(item: ItemResult, metrics: readonly MetricView[], choiceCount: number): string[] {
  const choices = Array.from({ length: choiceCount }, (_, choice) => {
    const ll = item.loglikelihoods[choice];
    if (ll === undefined) return '';
    const marks = metrics.filter((m) => m.mark && item.predictions[m.name] === choice).map((m) => m.mark);
    return formatFixed(ll, 3) + marks.join('');
  });
  const greedy = item.isGreedy.flatMap((g, choice) => (g ? [String(choice)] : []));
  const correct = metrics.map((m) => {
    const pick = item.predictions[m.name];
    return pick === undefined ? '' : pick === item.gold ? '✓' : '✗';
  });
  return [
    String(item.index),
    String(item.gold),
    ...choices,
    greedy.length ? greedy.join(' ') : '—',
    String(item.contextTokens),
    item.continuationTokens.join('/'),
    ...correct,
  ];
}

let cachedEnvironment: nunjucks.Environment | undefined;

function environment(): nunjucks.Environment {
  if (!cachedEnvironment) {
    cachedEnvironment = createReportEnvironment();
  }
  return cachedEnvironment;
}

