/**
 * Judging a re-run: the accuracy gate against the competition's baseline, a run of the unoptimized
 * configuration on the same items recorded in the results database as kind `baseline`
 * (`optibench run --db <file> --as-baseline`). The verdict goes into the store's `verdicts`, its figures and the
 * speedup into `inference_gates`: the leaderboard ranks by them.
 */
import { OptibenchError } from '../../../core/errors.js';
import { readResultsFile } from '../results-file.js';
import type { InferenceResult } from '../results.js';
import { judge, type GateOptions, type GateResult } from '../gate.js';
import type { ResultsStore, StoredRun } from '../../../core/store.js';
import { INFERENCE_EVALUATOR_ID } from '../hooks.js';
import { readRun, recordGate } from '../store/runs.js';

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
  // A re-run takes a seeded subset (or every item): a baseline that chose its items another way scored others.
  if (run.config.samples !== undefined) return 'it scored items chosen by index (samples), and a re-run takes a seeded subset';
  if (run.config.limitMode === 'first' && limit !== null) return "it scored the first items (limitMode 'first'), and a re-run takes a seeded subset";
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
export function findBaseline(store: ResultsStore, selection: ItemSelection, baselineId?: string): StoredRun | undefined {
  const where = { file: store.location, key: '--baseline' };
  if (baselineId !== undefined) {
    const run = readRun(store, baselineId);
    if (!run) throw new OptibenchError(`no run "${baselineId}" in the results database`, where);
    const why = unfit(run, selection);
    if (why) throw new OptibenchError(`run ${baselineId} cannot be the baseline: ${why}`, where);
    return run;
  }
  const candidates = store.findRuns({ evaluator: INFERENCE_EVALUATOR_ID, kind: 'baseline', status: 'complete', datasetSha256: selection.datasetSha256, totalItems: selection.totalItems });
  return candidates.find((run) => unfit(run, selection) === null);
}

async function readBaselineResults(run: StoredRun): Promise<InferenceResult> {
  const file = run.resultsPath!;
  let results: InferenceResult;
  try {
    results = await readResultsFile(file);
  } catch (error) {
    throw new OptibenchError(`the baseline run's results file cannot be read: ${error instanceof OptibenchError ? error.message : (error as Error).message}`, { file });
  }
  if (results.runId !== run.id) throw new OptibenchError(`the baseline's results file belongs to run ${results.runId}, not ${run.id}`, { file });
  return results;
}

/** Judges `results` (a complete re-run recorded as `runId`) against `baseline` and records the verdict. */
export async function judgeAgainstBaseline(store: ResultsStore, runId: string, results: InferenceResult, baseline: StoredRun, gate: GateOptions): Promise<GateResult> {
  const outcome = judge(await readBaselineResults(baseline), results, gate);
  recordGateVerdict(store, runId, outcome, baseline.id, gate);
  return outcome;
}

/** Records the gate's verdict on `runId` against the baseline run `baselineRunId`, with its figures. */
export function recordGateVerdict(store: ResultsStore, runId: string, outcome: GateResult, baselineRunId: string, gate: GateOptions): void {
  const judged = outcome.metrics.find((m) => m.name === gate.metric)!;
  recordGate(store, {
    runId,
    baselineRunId,
    metric: gate.metric,
    baselineValue: judged.baseline,
    value: judged.candidate,
    maxDropPoints: gate.maxDropPoints,
    passed: outcome.verdict.pass,
    fullSet: outcome.verdict.subsetNote === null,
    reason: outcome.verdict.reason,
  });
}
