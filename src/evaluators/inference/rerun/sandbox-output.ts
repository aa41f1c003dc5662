/**
 * The results file a sandboxed submission wrote is untrusted: it is read with a size cap, checked against the
 * results schema, must cover exactly the items it was given (each once, four finite log-likelihoods each),
 * and must not claim a time longer than the sandbox ran. Its labels, predictions and metrics are discarded:
 * the outer side scores its log-likelihoods again with the real labels, which never entered the sandbox.
 */
import { OptibenchError } from '../../../core/errors.js';
import { readCappedText } from '../../../core/result-file.js';
import type { Subject } from '../../../core/result.js';
import { rescore } from '../rescore.js';
import { parseInferenceResult } from '../results-file.js';
import { inferenceHeadline, type InferencePayload, type ItemResult, type InferenceResult } from '../results.js';
import { INFERENCE_EVALUATOR_ID, INFERENCE_EVALUATOR_VERSION } from '../hooks.js';
import type { Environment } from '../../../core/environment.js';
import type { DocOutcome } from '../../../core/task.js';
import { codePointLength, ENDINGS, hellaswagTask } from '../../../tasks/hellaswag/index.js';
import type { SelectedItems } from './items.js';

function checkItems(inner: InferenceResult, items: SelectedItems, file: string): void {
  const expected = new Set(items.docs.map((d) => d.index));
  const seen = new Set<number>();
  inner.payload.items.forEach((item, i) => {
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
  /** What the organizer ran: the re-run's config identity, the team and its commit. */
  readonly subject: Subject;
  /** The organizer's model, read and hashed outside the sandbox (what the submission says of it is discarded). */
  readonly model: InferencePayload['model'];
}

export async function scoreSandboxResults(file: string, context: OuterContext): Promise<InferenceResult> {
  // Not following links: a link would make the organizer's side read a file of its choosing.
  const text = await readCappedText(file, { followLinks: false, what: "submission's results file", missing: 'the submission wrote no results file' });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new OptibenchError(`not valid JSON: ${(error as Error).message}`, { file });
  }
  const header = json as { schema?: unknown } | null;
  if (header === null || typeof header !== 'object' || header.schema !== 'optibench/results') {
    throw new OptibenchError('not an optibench results file (expected "schema": "optibench/results")', { file });
  }
  // A team's own framework may write either version of the results file.
  const inner = parseInferenceResult(json, file);
  if (inner.status !== 'complete') throw new OptibenchError(`the submission's run is ${inner.status}: ${inner.error ?? 'no error given'}`, { file, key: 'status' });
  if (inner.payload.task.name !== hellaswagTask.name) throw new OptibenchError(`expected task "${hellaswagTask.name}", got "${inner.payload.task.name}"`, { file, key: 'task.name' });
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

function withRealLabels(inner: InferenceResult, context: OuterContext): InferenceResult {
  const docs = new Map(context.items.docs.map((d) => [d.index, d]));
  const outcomes: DocOutcome[] = [];
  const items: ItemResult[] = [...inner.payload.items]
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
    evaluator: { id: INFERENCE_EVALUATOR_ID, version: INFERENCE_EVALUATOR_VERSION },
    runId: context.runId,
    status: 'complete',
    subject: context.subject,
    environment: context.environment,
    metrics: hellaswagTask.aggregate(outcomes),
    headline: inferenceHeadline(inner.timings.inference.medianMs, (inner.payload.resumed?.itemsCarriedOver ?? 0) > 0),
    // Only the organizer judges.
    verdict: null,
    payload: {
      ...inner.payload,
      model: context.model,
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
      primaryMetric: hellaswagTask.headlineMetric,
      items,
    },
  };
}
