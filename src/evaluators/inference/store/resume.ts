/**
 * `optibench run --resume <run-id>`: what an interrupted run needs to continue. The configuration comes from
 * the database, not from flags, so the continued run is the same run; the dataset must be the same file
 * (sha256); the items already recorded are not computed again, nor are the finished requests of unfinished
 * items that a run stopped with Ctrl-C kept in its results.incomplete.json.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readResultJson } from '../../../core/result-file.js';
import { parseInferenceResult } from '../results-file.js';
import { configSha256 } from '../../../core/canonical-json.js';
import type { ResultsStore, StoredRun } from '../../../core/store.js';
import { configSchema, inferenceConfigSha256, type RunConfig } from '../config.js';
import { defaultDatasetPath } from '../embedded-default.js';
import { OptibenchError } from '../../../core/errors.js';
import type { CarriedRequest, ItemResult } from '../results.js';
import { sha256File } from '../../../models/llama/weights-hash.js';
import { readRun, readRunItems, reopenRun } from './runs.js';

export interface ResumeState {
  readonly run: StoredRun;
  readonly config: RunConfig;
  readonly items: ReadonlyMap<number, ItemResult>;
  /** Finished requests of the items not in `items`, from the run's incomplete file (none when it has none). */
  readonly requests: readonly CarriedRequest[];
  /** The order seed the run started with (null only for rows written by something other than `optibench run`). */
  readonly shuffleSeed: number | undefined;
}

/** Checks that `runId` can be continued and reopens it (status `running`); refuses a complete run. */
export async function loadResume(store: ResultsStore, runId: string): Promise<ResumeState> {
  const where = { file: store.location };
  const run = readRun(store, runId);
  if (!run) throw new OptibenchError(`no run "${runId}" in the results database`, where);
  if (run.status === 'complete') {
    throw new OptibenchError(`run ${runId} is already complete (finished ${run.finishedAt ?? '?'}): there is nothing to resume`, where);
  }
  const parsed = configSchema.safeParse(run.config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OptibenchError(`run ${runId}'s stored config is not valid for this optibench: ${issue.message}`, { ...where, key: `config.${issue.path.join('.')}` });
  }
  const config = parsed.data;
  // Runs recorded by store version 1 have the identity of the time, which did not hash the dataset's content.
  if (inferenceConfigSha256(config, run.datasetSha256) !== run.configSha256 && configSha256(config) !== run.configSha256) {
    throw new OptibenchError(`run ${runId}'s stored config reads differently in this optibench (its sha256 changed): start a new run`, where);
  }
  const datasetPath = config.dataset ?? defaultDatasetPath();
  let datasetSha256: string;
  try {
    datasetSha256 = await sha256File(datasetPath);
  } catch (error) {
    throw new OptibenchError(`cannot resume run ${runId}: its dataset cannot be read (${(error as Error).message})`, { file: datasetPath });
  }
  if (datasetSha256 !== run.datasetSha256) {
    throw new OptibenchError(
      `cannot resume run ${runId}: the dataset changed since the run started (sha256 ${run.datasetSha256.slice(0, 12)}… then, ${datasetSha256.slice(0, 12)}… now); a resumed run must score the same file`,
      { file: datasetPath },
    );
  }
  const items = new Map(readRunItems(store, runId).map((item) => [item.index, item]));
  const requests = (await partialRequestsOf(path.join(config.outputDir, runId), run)).filter((r) => !items.has(r.index));
  reopenRun(store, runId);
  return { run, config, items, requests, shuffleSeed: run.shuffleSeed ?? undefined };
}

/**
 * The finished requests the run's results.incomplete.json keeps, when it is this run's (same id, same config
 * identity). A run killed outright wrote no such file: its unfinished items are computed whole.
 */
async function partialRequestsOf(runDir: string, run: StoredRun): Promise<readonly CarriedRequest[]> {
  const file = path.join(runDir, 'results.incomplete.json');
  if (!existsSync(file)) return [];
  const partial = parseInferenceResult((await readResultJson(file)).json, file);
  if (partial.runId !== run.id || partial.subject.configSha256 !== run.configSha256) {
    throw new OptibenchError(`this incomplete file is not run ${run.id}'s (its run id or config differs): move it away to resume without it`, { file });
  }
  return partial.payload.partialRequests ?? [];
}
