/**
 * The results file a sandboxed submission wrote is untrusted: it is read with a size cap, checked against the
 * results schema, must cover exactly the items it was given (each once, four finite log-likelihoods each),
 * and must not claim a time longer than the sandbox ran. Its labels, predictions and metrics are discarded:
 * the outer side scores its log-likelihoods again with the real labels, which never entered the sandbox.
 */
import { open } from 'node:fs/promises';
import { OptibenchError } from '../../../core/errors.js';
import { rescore } from '../rescore.js';
import { RESULTS_SCHEMA_ID, RESULTS_VERSION, resultsSchema, type ItemResult, type Results } from '../results.js';
import type { Environment } from '../../../core/environment.js';
import type { DocOutcome } from '../../../core/task.js';
import { codePointLength, ENDINGS, hellaswagTask } from '../../../tasks/hellaswag/index.js';
import type { SelectedItems } from './items.js';

const MAX_RESULTS_BYTES = 512 * 1024 * 1024;

async function readCapped(file: string): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new OptibenchError(code === 'ENOENT' ? 'the submission wrote no results file' : `cannot read the submission's results: ${code}`, { file });
  }
  try {
    const { size } = await handle.stat();
    if (size > MAX_RESULTS_BYTES) throw new OptibenchError(`the results file is ${size} bytes, more than the ${MAX_RESULTS_BYTES} allowed`, { file });
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function checkItems(inner: Results, items: SelectedItems, file: string): void {
  const expected = new Set(items.docs.map((d) => d.index));
  const seen = new Set<number>();
  inner.items.forEach((item, i) => {
    const key = `items[${i}]`;
    if (!expected.has(item.index)) throw new OptibenchError(`item ${item.index} was not among the items given to the submission`, { file, key });
    if (seen.has(item.index)) throw new OptibenchError(`item ${item.index} appears twice`, { file, key });
    seen.add(item.index);
    for (const [name, list] of [['loglikelihoods', item.loglikelihoods], ['isGreedy', item.isGreedy], ['continuationTokens', item.continuationTokens]] as const) {
      if (list.length !== ENDINGS) throw new OptibenchError(`expected ${ENDINGS} values (one per ending), got ${list.length}`, { file, key: `${key}.${name}` });
    }
    if (!item.loglikelihoods.every((ll) => Number.isFinite(ll) && ll <= 0)) {
      throw new OptibenchError('expected finite log-likelihoods, none above 0', { file, key: `${key}.loglikelihoods` });
    }
  });
  if (seen.size !== expected.size) {
    const missing = [...expected].filter((i) => !seen.has(i));
    throw new OptibenchError(`${missing.length} of the ${expected.size} items given to the submission have no result (first: ${missing.slice(0, 5).join(', ')})`, { file, key: 'items' });
  }
}

export interface OuterContext {
  readonly runId: string;
  readonly items: SelectedItems;
  readonly limit: number | null;
  readonly seed: number;
  /** The machine the sandbox ran on, captured outside it. */
  readonly environment: Environment;
  /** How long the sandbox ran: no measured time inside it can be longer. */
  readonly sandboxSeconds: number;
}

export async function scoreSandboxResults(file: string, context: OuterContext): Promise<Results> {
  let json: unknown;
  try {
    json = JSON.parse(await readCapped(file));
  } catch (error) {
    if (error instanceof OptibenchError) throw error;
    throw new OptibenchError(`not valid JSON: ${(error as Error).message}`, { file });
  }
  const header = json as { schema?: unknown; version?: unknown } | null;
  if (header?.schema !== RESULTS_SCHEMA_ID || header.version !== RESULTS_VERSION) {
    throw new OptibenchError(`not an optibench results file (expected "schema": "${RESULTS_SCHEMA_ID}", "version": ${RESULTS_VERSION})`, { file });
  }
  const parsed = resultsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OptibenchError(issue.message, { file, key: issue.path.join('.') });
  }
  const inner = parsed.data;
  if (inner.status !== 'complete') throw new OptibenchError(`the submission's run is ${inner.status}: ${inner.error ?? 'no error given'}`, { file, key: 'status' });
  if (inner.task.name !== hellaswagTask.name) throw new OptibenchError(`expected task "${hellaswagTask.name}", got "${inner.task.name}"`, { file, key: 'task.name' });
  checkItems(inner, context.items, file);
  const claimedMs = Math.max(inner.timings.totalMs, ...inner.timings.inference.repeats);
  if (claimedMs > context.sandboxSeconds * 1000) {
    throw new OptibenchError(`the results claim ${Math.round(claimedMs)} ms, longer than the sandbox ran (${Math.round(context.sandboxSeconds * 1000)} ms)`, { file, key: 'timings' });
  }
  const results = withRealLabels(inner, context);
  const again = rescore(results);
  if (again.maxMetricDifference !== 0 || Object.keys(again.changedPredictions).length > 0) throw new Error('rescoring the relabelled results disagrees with scoring them');
  return results;
}

function withRealLabels(inner: Results, context: OuterContext): Results {
  const docs = new Map(context.items.docs.map((d) => [d.index, d]));
  const outcomes: DocOutcome[] = [];
  const items: ItemResult[] = [...inner.items]
    .sort((a, b) => a.index - b.index)
    .map((item) => {
      const doc = docs.get(item.index)!;
      const scored = { gold: doc.gold, choiceChars: doc.choices.map(codePointLength), loglikelihoods: item.loglikelihoods };
      const outcome = hellaswagTask.score(scored);
      outcomes.push(outcome);
      return { ...item, gold: doc.gold, choiceChars: [...scored.choiceChars], predictions: { ...outcome.predictions } };
    });
  const { error: _untrustedError, ...rest } = inner;
  return {
    ...rest,
    runId: context.runId,
    status: 'complete',
    task: {
      name: hellaswagTask.name,
      version: hellaswagTask.version,
      dataset: {
        path: context.items.datasetPath,
        sha256: context.items.datasetSha256,
        totalDocs: context.items.totalDocs,
        selectedDocs: context.items.docs.length,
        limit: context.limit,
        seed: context.seed,
      },
    },
    environment: context.environment,
    headlineMetric: hellaswagTask.headlineMetric,
    metrics: hellaswagTask.aggregate(outcomes),
    items,
  };
}
