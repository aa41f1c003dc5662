/**
 * The per-run HTML report: one standalone page (no scripts, no external resources) rendered from the
 * nunjucks templates in reports/templates/. Templates get the results as they are plus a few derived
 * values computed here, so that the templates hold layout and the arithmetic stays testable in TypeScript.
 */
import path from 'node:path';
import type nunjucks from 'nunjucks';
import { writeFileAtomic } from '../../../core/atomic-file.js';
import { sha256File } from '../../../models/llama/weights-hash.js';
import { getTask } from '../../../tasks/index.js';
import { recordedSelection, type ItemResult, type InferenceResult } from '../results.js';
import { describeSelection } from '../../../core/subset.js';
import { createReportEnvironment } from '../../../report/environment.js';
import { formatFixed, formatInt } from '../../../report/filters.js';
import { runCharts } from './run-charts.js';
import { floatMatmulRate } from '../operator-shares.js';
import { escapeXml } from '../../../report/svg-chart.js';
import { randomWeightModel } from '../embedded-default.js';

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

/** An item's text as the model saw it: the context and every ending, in the dataset's order. */
export interface ItemText {
  readonly query: string;
  readonly choices: readonly string[];
}

/**
 * `texts` (by dataset index) lets the per-item table show what each item asked; without it the table shows
 * numbers only (the results file holds no text, and the dataset may have moved since the run).
 */
export function renderRunReport(results: InferenceResult, texts?: ReadonlyMap<number, ItemText>): string {
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
    // Ready-made (escaped here) so 10,042 rows of text stay as fast to render as rows of numbers.
    textCells: texts ? results.payload.items.map((item) => textCell(itemTextView(item, metrics, texts.get(item.index)))) : [],
    hasTexts: texts !== undefined && results.payload.items.some((item) => texts.has(item.index)),
    charts: runCharts(results),
    randomWeights: randomWeightModel(results.payload.model.config),
    matmulRate: results.payload.operatorProfile ? floatMatmulRate(results.payload.operatorProfile.kernels) : null,
  });
}

/** Which items, and how they were chosen (seeded subset, first n, listed indices). */
function selectionText(ds: InferenceResult['payload']['task']['dataset']): string {
  return describeSelection(recordedSelection(ds), ds.selectedDocs, ds.totalDocs, formatInt);
}

export interface ItemTextView {
  readonly query: string;
  /** Each ending with what became of it: the gold, and which metric picked it. */
  readonly choices: readonly { readonly text: string; readonly gold: boolean; readonly pickedBy: string }[];
}

/** The collapsed text cell of the items table: the context cut short, opening to the whole context and every ending. */
export function textCell(view: ItemTextView | null): string {
  if (!view) return '<span class="muted">—</span>';
  const summary = [...view.query].length > 60 ? `${[...view.query].slice(0, 57).join('')}...` : view.query;
  const choices = view.choices
    .map((c) => `<li${c.gold ? ' class="gold"' : ''}>${escapeXml(c.text)}${c.gold ? ' <span class="gold-mark">gold</span>' : ''}${c.pickedBy ? ` <span class="picked">← ${escapeXml(c.pickedBy)}</span>` : ''}</li>`)
    .join('');
  return `<details><summary>${escapeXml(summary)}</summary><p class="context">${escapeXml(view.query)}</p><ol start="0">${choices}</ol></details>`;
}

function itemTextView(item: ItemResult, metrics: readonly MetricView[], text: ItemText | undefined): ItemTextView | null {
  if (!text) return null;
  return {
    query: text.query,
    choices: text.choices.map((choice, i) => ({
      text: choice,
      gold: i === item.gold,
      pickedBy: metrics.filter((m) => item.predictions[m.name] === i).map((m) => m.name).join(', '),
    })),
  };
}

/** Writes `<dir>/index.html` atomically, so a reader never sees half a report. Returns its path. */
export async function writeRunReport(results: InferenceResult, dir: string): Promise<string> {
  return writeFileAtomic(path.join(dir, 'index.html'), await renderRunReportWithTexts(results));
}

/**
 * The report with each item's text, read from the dataset the results name when it is still there with the
 * same sha256; otherwise (moved, changed, unreadable) the report is rendered without text rather than with
 * the wrong one.
 */
export async function renderRunReportWithTexts(results: InferenceResult): Promise<string> {
  return renderRunReport(results, await datasetTexts(results.payload.task.name, results.payload.task.dataset));
}

async function datasetTexts(task: string, dataset: { path: string; sha256: string }): Promise<Map<number, ItemText> | undefined> {
  try {
    if ((await sha256File(dataset.path)) !== dataset.sha256) return undefined;
    const docs = await getTask(task).load(dataset.path);
    return new Map(docs.map((doc) => [doc.index, { query: doc.query, choices: doc.choices }]));
  } catch {
    return undefined;
  }
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

