/**
 * Judging a re-run: the accuracy gate against the competition's baseline, a run of the unoptimized
 * configuration on the same items recorded in the results database as kind `baseline`
 * (`optibench run --db <file> --as-baseline`). The verdict and the speedup go into `gates`, which is what the
 * leaderboard ranks by.
 */
import { readFile } from 'node:fs/promises';
import { OptibenchError } from '../../../core/errors.js';
import { inferenceResultSchema, type InferenceResult } from '../results.js';
import { judge, type GateOptions, type GateResult } from '../gate.js';
import { readRun, recordGate, type StoredRun } from '../../../store/runs.js';
import type { StoreDatabase } from '../../../store/schema.js';

/** Which items a re-run scores: a baseline must have scored exactly these. */
export interface ItemSelection {
  readonly datasetSha256: string;
  readonly totalItems: number;
  readonly limit: number | null;
  readonly seed: number;
}

function selectionOf(run: StoredRun): { limit: unknown; seed: unknown } {
  return { limit: run.config.limit ?? null, seed: run.config.seed };
}

/** Why `run` cannot be the baseline of a re-run of `selection`, or null when it can. */
function unfit(run: StoredRun, selection: ItemSelection): string | null {
  if (run.kind !== 'baseline') return `it is a ${run.kind} run, not a baseline (record one with optibench run --db <file> --as-baseline)`;
  if (run.status !== 'complete') return `it is ${run.status}, not complete`;
  if (run.datasetSha256 !== selection.datasetSha256) return 'it scored another dataset file (sha256 differs)';
  const { limit, seed } = selectionOf(run);
  if (run.totalItems !== selection.totalItems || limit !== selection.limit || (selection.limit !== null && seed !== selection.seed)) {
    return `it scored other items (${run.totalItems} items, limit ${String(limit)}, seed ${String(seed)}; the re-run scores ${selection.totalItems}, limit ${String(selection.limit)}, seed ${selection.seed})`;
  }
  if (!run.resultsPath) return 'its results file is not recorded';
  return null;
}

/**
 * The baseline a re-run is judged against: the one named, which must fit, or else the newest complete baseline
 * that scored the same items (undefined when there is none: the re-run is then recorded unjudged).
 */
export function findBaseline(db: StoreDatabase, selection: ItemSelection, baselineId?: string): StoredRun | undefined {
  if (baselineId !== undefined) {
    const run = readRun(db, baselineId);
    if (!run) throw new OptibenchError(`no run "${baselineId}" in the results database`, { file: db.name, key: '--baseline' });
    const why = unfit(run, selection);
    if (why) throw new OptibenchError(`run ${baselineId} cannot be the baseline: ${why}`, { file: db.name, key: '--baseline' });
    return run;
  }
  const ids = db
    .prepare("SELECT id FROM runs WHERE kind = 'baseline' AND status = 'complete' AND dataset_sha256 = ? AND total_items = ? ORDER BY finished_at DESC, id DESC")
    .all(selection.datasetSha256, selection.totalItems) as { id: string }[];
  for (const { id } of ids) {
    const run = readRun(db, id);
    if (run && unfit(run, selection) === null) return run;
  }
  return undefined;
}

async function readBaselineResults(run: StoredRun): Promise<InferenceResult> {
  let text: string;
  try {
    text = await readFile(run.resultsPath!, 'utf8');
  } catch (error) {
    throw new OptibenchError(`the baseline run's results file cannot be read: ${(error as Error).message}`, { file: run.resultsPath! });
  }
  const parsed = inferenceResultSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new OptibenchError(`the baseline run's results file is not a results file: ${parsed.error.issues[0]!.message}`, { file: run.resultsPath! });
  if (parsed.data.runId !== run.id) throw new OptibenchError(`the baseline's results file belongs to run ${parsed.data.runId}, not ${run.id}`, { file: run.resultsPath! });
  return parsed.data;
}

/** Judges `results` (a complete re-run recorded as `runId`) against `baseline` and records the verdict. */
export async function judgeAgainstBaseline(db: StoreDatabase, runId: string, results: InferenceResult, baseline: StoredRun, gate: GateOptions): Promise<GateResult> {
  const outcome = judge(await readBaselineResults(baseline), results, gate);
  const judged = outcome.metrics.find((m) => m.name === gate.metric)!;
  recordGate(db, {
    runId,
    baselineRunId: baseline.id,
    metric: gate.metric,
    baselineValue: judged.baseline,
    value: judged.candidate,
    maxDropPoints: gate.maxDropPoints,
    passed: outcome.verdict.pass,
    fullSet: outcome.verdict.subsetNote === null,
    reason: outcome.verdict.reason,
  });
  return outcome;
}
