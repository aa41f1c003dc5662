/**
 * Records one `optibench run` in the results database as it goes: the run row once the run is prepared,
 * finished documents after each batch of the first measured pass, and the end (complete or failed).
 */
import { OptibenchError } from '../../../core/errors.js';
import type { ItemResult, InferenceResult } from '../results.js';
import type { PreparedRun, RunObserver } from '../runner.js';
import type { ResultsStore, RunKind, StoredRun } from '../../../core/store.js';
import { createRun, failRun, finishRun, recordItems, type FinishPaths } from './runs.js';

export interface RecorderOptions {
  readonly kind?: RunKind;
  readonly submissionId?: number | null;
  /** The row of the run being resumed (reopened by `loadResume`): it is checked rather than created. */
  readonly resumed?: StoredRun;
}

export class RunRecorder {
  private created: boolean;

  constructor(
    private readonly store: ResultsStore,
    private readonly runId: string,
    private readonly config: object,
    private readonly options: RecorderOptions = {},
  ) {
    this.created = options.resumed !== undefined;
  }

  /** Observer hooks to pass to `runEvaluation` (with the same run id). */
  readonly hooks: Required<Pick<RunObserver, 'onPrepared' | 'onItems'>> = {
    onPrepared: (run: PreparedRun) => {
      if (run.runId !== this.runId) throw new Error(`RunRecorder for run ${this.runId} was given run ${run.runId}`);
      const resumed = this.options.resumed;
      if (resumed) {
        // loadResume compared the dataset file already; this catches a selection that differs all the same.
        if (run.datasetSha256 !== resumed.datasetSha256 || run.totalItems !== resumed.totalItems) {
          throw new OptibenchError(
            `cannot resume run ${run.runId}: it now selects ${run.totalItems} items of dataset sha256 ${run.datasetSha256.slice(0, 12)}…, it started with ${resumed.totalItems} of ${resumed.datasetSha256.slice(0, 12)}…`,
            { file: this.store.location },
          );
        }
        return;
      }
      createRun(this.store, {
        id: run.runId,
        kind: this.options.kind ?? 'run',
        config: this.config,
        configSha256: run.configSha256,
        datasetPath: run.datasetPath,
        datasetSha256: run.datasetSha256,
        totalItems: run.totalItems,
        shuffleSeed: run.shuffleSeed,
        submissionId: this.options.submissionId ?? null,
      });
      this.created = true;
    },
    onItems: (items: readonly ItemResult[]) => recordItems(this.store, this.runId, items),
  };

  finish(results: InferenceResult, paths: FinishPaths): void {
    finishRun(this.store, this.runId, results, paths);
  }

  /** Marks the run failed, keeping its items, if its row exists (a run that failed while preparing has none). */
  fail(error: string, items: readonly ItemResult[] = []): void {
    if (this.created) failRun(this.store, this.runId, error, { items });
  }
}
