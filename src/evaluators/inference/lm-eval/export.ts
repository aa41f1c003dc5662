/**
 * An inference result as lm-evaluation-harness writes its own (`--output_path ... --log_samples`):
 * `results_<date>.json` (the aggregate: `results.hellaswag["acc,none"]`, stderr, configs, versions, n-shot,
 * n-samples, higher_is_better, config, task_hashes, ...) and `samples_hellaswag_<date>.jsonl` (one line per
 * document: doc, target, arguments, resps, acc, acc_norm and the three hashes), so dashboards and scripts
 * written for lm-eval read optibench's runs.
 *
 * The results keep each item's log-likelihoods but not its text, so the dataset named in the results is read
 * again (and must still have the sha256 the run recorded) for the documents, prompts and targets.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../../../core/atomic-file.js';
import { OptibenchError } from '../../../core/errors.js';
import { describeMachine } from '../../../core/environment.js';
import { describeSelection } from '../../../core/subset.js';
import { sha256File } from '../../../models/llama/weights-hash.js';
import { codePointLength, TARGET_DELIMITER } from '../../../tasks/hellaswag/index.js';
import { loadLmEvalDocs, type LmEvalDoc } from '../../../tasks/hellaswag/lm-eval-doc.js';
import { rankedInferenceMs, recordedSelection, type InferenceResult, type ItemResult } from '../results.js';
import { PyFloat, pyFloatRepr, pyJsonDumps, type PyJson } from './python-json.js';

/** lm-eval's filter for multiple-choice tasks (take the first response): the key its metrics are under. */
const FILTER = 'none';
const METRICS = ['acc', 'acc_norm'] as const;

/** lm-eval's `hash_string`: SHA-256 of the UTF-8 text, as hex. */
export function hashString(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** lm-eval's file-name date: `datetime.isoformat()` with `:` made `-` (microseconds only when not zero). */
export function fileDate(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new OptibenchError(`the results' createdAt is not a date: ${JSON.stringify(iso)}`, { key: 'createdAt' });
  const text = date.toISOString(); // 2026-12-02T06:14:53.123Z
  const ms = text.slice(20, 23);
  return `${text.slice(0, 19).replaceAll(':', '-')}${ms === '000' ? '' : `.${ms}000`}`;
}

export interface LmEvalFiles {
  readonly resultsName: string;
  readonly resultsText: string;
  readonly samplesName: string;
  readonly samplesText: string;
  /** False when the dataset lacks Hugging Face columns, so `doc_hash` differs from lm-eval's for the same item. */
  readonly docHashesComparable: boolean;
}

export interface LmEvalSample {
  readonly sample: { readonly [key: string]: PyJson };
  readonly hashes: string;
}

/** One line of the samples file, as lm-eval's evaluator builds it and its tracker writes it. */
export function lmEvalSample(item: ItemResult, doc: LmEvalDoc, query: string, choices: readonly string[]): LmEvalSample {
  const target = String(item.gold);
  const docHash = hashString(pyJsonDumps(doc, 2));
  const promptHash = hashString(query);
  const targetHash = hashString(target);
  const response = (i: number): PyJson[] => [pyFloatRepr(item.loglikelihoods[i]!), item.isGreedy[i] ? 'True' : 'False'];
  const correct = (metric: string): PyFloat => new PyFloat(item.predictions[metric] === item.gold ? 1 : 0);
  const sample = {
    doc_id: item.index,
    doc,
    target,
    arguments: Object.fromEntries(choices.map((choice, i) => [`gen_args_${i}`, { arg_0: query, arg_1: TARGET_DELIMITER + choice }])),
    resps: choices.map((_, i) => [response(i)]),
    filtered_resps: choices.map((_, i) => response(i)),
    filter: FILTER,
    metrics: [...METRICS],
    doc_hash: docHash,
    prompt_hash: promptHash,
    target_hash: targetHash,
    acc: correct('acc'),
    acc_norm: correct('acc_norm'),
  };
  return { sample, hashes: docHash + promptHash + targetHash };
}

/** Both files' names and text, from a complete result and its dataset's documents. */
export async function buildLmEvalFiles(result: InferenceResult): Promise<LmEvalFiles> {
  if (result.status !== 'complete') {
    throw new OptibenchError('these results are incomplete: lm-eval files describe a finished evaluation (resume the run first)', { key: 'status' });
  }
  const { task, items: unsorted } = result.payload;
  if (task.name !== 'hellaswag') throw new OptibenchError(`lm-eval output is written for hellaswag, not ${task.name}`, { key: 'payload.task.name' });
  for (const metric of METRICS) {
    if (!result.metrics[metric]) throw new OptibenchError(`the results have no ${metric} metric`, { key: 'metrics' });
  }
  const ds = task.dataset;
  let sha256: string;
  try {
    sha256 = await sha256File(ds.path);
  } catch (error) {
    throw new OptibenchError(
      `the dataset the run scored cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): lm-eval's samples need each item's text, which results.json does not keep`,
      { file: ds.path },
    );
  }
  if (sha256 !== ds.sha256) {
    throw new OptibenchError(`the dataset changed since the run (sha256 ${ds.sha256.slice(0, 12)}… then, ${sha256.slice(0, 12)}… now): its text would not be what was scored`, { file: ds.path });
  }
  const { docs, lmEvalDocs, complete } = await loadLmEvalDocs(ds.path);
  if (docs.length !== ds.totalDocs) throw new OptibenchError(`the dataset has ${docs.length} items but the run counted ${ds.totalDocs}`, { file: ds.path });

  const items = [...unsorted].sort((a, b) => a.index - b.index);
  const lines: string[] = [];
  const hashes: string[] = [];
  for (const item of items) {
    const doc = docs[item.index];
    if (!doc) throw new OptibenchError(`item ${item.index} is not in the dataset (${docs.length} items)`, { file: ds.path });
    if (doc.gold !== item.gold || doc.choices.map(codePointLength).join() !== item.choiceChars.join()) {
      throw new OptibenchError(`item ${item.index} of the dataset is not the document the run scored (its label or endings differ)`, { file: ds.path });
    }
    const { sample, hashes: sampleHashes } = lmEvalSample(item, lmEvalDocs[item.index]!, doc.query, doc.choices);
    lines.push(`${pyJsonDumps(sample)}\n`);
    hashes.push(sampleHashes);
  }
  const date = fileDate(result.createdAt);
  return {
    resultsName: `results_${date}.json`,
    resultsText: pyJsonDumps(aggregate(result, hashString(hashes.join('')), items.length), 2),
    samplesName: `samples_${task.name}_${date}.jsonl`,
    samplesText: lines.join(''),
    docHashesComparable: complete,
  };
}

/** The aggregate file, in lm-eval's key order; what lm-eval records and optibench does not know is null. */
function aggregate(result: InferenceResult, taskHash: string, effective: number): { [key: string]: PyJson } {
  const { payload, metrics } = result;
  const name = payload.task.name;
  const ds = payload.task.dataset;
  const selection = recordedSelection(ds);
  const taskResults: { [key: string]: PyJson } = { alias: name };
  for (const metric of METRICS) {
    const m = metrics[metric]!;
    taskResults[`${metric},${FILTER}`] = new PyFloat(m.value);
    // lm-eval writes "N/A" where a stderr is undefined (fewer than two items).
    taskResults[`${metric}_stderr,${FILTER}`] = m.stderr === null ? 'N/A' : new PyFloat(m.stderr);
  }
  const backend = payload.backend;
  const startSeconds = Date.parse(result.createdAt) / 1000;
  const modelName = payload.model.dir;
  return {
    results: { [name]: taskResults },
    group_subtasks: { [name]: [] },
    configs: { [name]: taskConfig(result) },
    versions: { [name]: new PyFloat(Number(payload.task.version)) },
    'n-shot': { [name]: 0 },
    higher_is_better: { [name]: Object.fromEntries(METRICS.map((m) => [m, true])) },
    'n-samples': { [name]: { original: ds.totalDocs, effective } },
    config: {
      model: `optibench-${backend.name}`,
      model_args: `pretrained=${modelName},dtype=${String(backend.build.dtype)}`,
      batch_size: numberOrNull(result.config.batchSize),
      batch_sizes: [],
      device: String(backend.session.executionProvider ?? 'cpu'),
      use_cache: null,
      // lm-eval's limit is the first N (or a share); a seeded subset or listed indices are no lm-eval limit.
      limit: selection.mode === 'first' && selection.limit !== null ? (selection.limit < 1 ? new PyFloat(selection.limit) : selection.limit) : null,
      bootstrap_iters: 100000,
      gen_kwargs: null,
      random_seed: null,
      numpy_seed: null,
      torch_seed: null,
      fewshot_seed: null,
    },
    git_hash: null,
    date: new PyFloat(startSeconds),
    pretty_env_info: describeMachine(result.environment),
    transformers_version: 'N/A',
    lm_eval_version: 'N/A',
    upper_git_hash: null,
    task_hashes: { [name]: taskHash },
    model_source: 'optibench',
    model_name: modelName,
    model_name_sanitized: modelName.replaceAll('/', '__').replaceAll(':', '__'),
    system_instruction: null,
    system_instruction_sha: null,
    fewshot_as_multiturn: false,
    chat_template: null,
    chat_template_sha: null,
    total_evaluation_time_seconds: pyFloatRepr(result.timings.totalMs / 1000),
    // What lm-eval has no field for: which run, and how its items were chosen.
    optibench: {
      run_id: result.runId,
      evaluator: `${result.evaluator.id} ${result.evaluator.version}`,
      version: result.environment.versions.optibench ?? null,
      selection: describeSelection(selection, ds.selectedDocs, ds.totalDocs),
      selection_mode: selection.mode,
      ...(selection.mode === 'indices' ? { samples: [...selection.indices] } : {}),
      ...(selection.mode === 'seeded' ? { seed: selection.seed } : {}),
      dataset_sha256: ds.sha256,
      model_weights_sha256: payload.model.weightsSha256,
      backend: backend.name,
      inference_ms: numberOrNull(rankedInferenceMs(result)),
    },
  };
}

function numberOrNull(value: unknown): PyJson {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** The task's configuration as lm-eval dumps it, with optibench's dataset in place of the Hugging Face one. */
function taskConfig(result: InferenceResult): { [key: string]: PyJson } {
  const { task } = result.payload;
  return {
    task: task.name,
    tag: ['multiple_choice'],
    dataset_path: task.dataset.path,
    dataset_name: null,
    validation_split: 'validation',
    process_docs: 'lm_eval/tasks/hellaswag/utils.py:process_docs (reimplemented by optibench, src/tasks/hellaswag/preprocess.ts)',
    doc_to_text: '{{query}}',
    doc_to_target: '{{label}}',
    doc_to_choice: 'choices',
    description: '',
    target_delimiter: TARGET_DELIMITER,
    fewshot_delimiter: '\n\n',
    num_fewshot: 0,
    metric_list: METRICS.map((metric) => ({ metric, aggregation: 'mean', higher_is_better: true })),
    output_type: 'multiple_choice',
    repeats: 1,
    should_decontaminate: false,
    metadata: { version: new PyFloat(Number(task.version)) },
  };
}

/** Writes both files into `dir` (created if needed); returns their paths. */
export async function writeLmEvalFiles(result: InferenceResult, dir: string): Promise<{ resultsFile: string; samplesFile: string; docHashesComparable: boolean }> {
  const files = await buildLmEvalFiles(result);
  await mkdir(dir, { recursive: true });
  const resultsFile = await writeFileAtomic(path.join(dir, files.resultsName), files.resultsText);
  const samplesFile = await writeFileAtomic(path.join(dir, files.samplesName), files.samplesText);
  return { resultsFile, samplesFile, docHashesComparable: files.docHashesComparable };
}
