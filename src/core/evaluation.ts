/**
 * The one path from an evaluation to its files, for every evaluator and every caller (a command, a
 * configuration of a comparison or a benchmark, the organizer's optibench inside a sandbox): run it, then write
 * `results.json` and the report into the run's folder. An evaluation that stops after computing something
 * writes what it computed as `results.incomplete.json` (never `results.json`) and its report, so nothing
 * already computed is lost; one that stops before computing anything writes nothing.
 *
 * Commands check their output folder before computing (output-dir.ts), but a disk can fill or be remounted
 * read-only during a run: a write that fails then is retried, in this order, in `<cache dir>/rescued/<run-id>/`
 * (when the caller names a cache dir) and `<system temp>/optibench-rescued/<run-id>/`, and the error names
 * where the files went, so hours of computing are not lost to a full disk.
 */
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { EvaluationFailure } from './evaluator.js';
import { OptibenchError } from './errors.js';
import type { Result } from './result.js';
import { writeResultFile } from './result-file.js';
import { fileSystemReason } from './output-dir.js';

/** Any evaluator's result type (its payload and timings typed). */
type AnyResult = Result<unknown, { totalMs: number }>;

export interface WrittenEvaluation<R extends AnyResult> {
  readonly result: R;
  readonly resultsFile: string;
  /** The report page, when the caller renders one. */
  readonly reportFile: string | null;
}

/** An evaluation stopped part-way; what it computed was written to `resultsFile`. */
export class StoppedEvaluation<R extends AnyResult = AnyResult> extends Error {
  constructor(
    /** Which configuration stopped, for the message ("the baseline run"). */
    readonly label: string,
    readonly partial: R,
    readonly resultsFile: string,
    override readonly cause: unknown,
  ) {
    super(`the ${label} run stopped: ${cause instanceof OptibenchError ? cause.oneLine() : cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StoppedEvaluation';
  }
}

export interface WriteOptions<R extends AnyResult> {
  readonly label: string;
  /** The report page of a result; none: no report is written. */
  readonly render?: (result: R) => string;
  /** Whether a stopped evaluation computed anything worth keeping; by default, anything it returned. */
  readonly hasWork?: (partial: R) => boolean;
  /** Told of every failure before anything is written (a recorder marks the run failed). */
  readonly onFailure?: (error: unknown) => void;
  /** The first place results are rescued to when `dir` cannot be written: `<cacheDir>/rescued/<run-id>/`. */
  readonly cacheDir?: string;
}

/** The results could not be written where asked, and were written elsewhere: the error says where. */
export class RescuedOutput<R extends AnyResult = AnyResult> extends OptibenchError {
  constructor(
    readonly intendedDir: string,
    /** What was written, and where: a caller that records runs records these paths. */
    readonly written: WrittenEvaluation<R>,
    reason: string,
  ) {
    super(`could not write the results into this folder (${reason}); they were saved in ${path.dirname(written.resultsFile)} instead`, { file: intendedDir });
    this.name = 'RescuedOutput';
  }
}

/** Where results go when their folder cannot be written, in the order tried. */
export function rescueDirs(runId: string, cacheDir?: string): string[] {
  return [...(cacheDir ? [path.join(cacheDir, 'rescued', runId)] : []), path.join(os.tmpdir(), 'optibench-rescued', runId)];
}

/** `evaluate` throws an EvaluationFailure whose partial result is of the type it returns. */
export async function evaluateAndWrite<R extends AnyResult>(evaluate: () => Promise<R>, dir: string, options: WriteOptions<R>): Promise<WrittenEvaluation<R>> {
  let result: R;
  try {
    result = await evaluate();
  } catch (error) {
    options.onFailure?.(error);
    if (!(error instanceof EvaluationFailure)) throw error;
    const partial = error.partial as R;
    // Nothing computed (e.g. the weights were unreadable): the plain error, and no file at all.
    if (options.hasWork && !options.hasWork(partial)) throw error.cause;
    const written = await writeOrRescue(partial, dir, options);
    throw new StoppedEvaluation(options.label, partial, written.resultsFile, error.cause);
  }
  return writeOrRescue(result, dir, options);
}

async function writeOrRescue<R extends AnyResult>(result: R, dir: string, options: WriteOptions<R>): Promise<WrittenEvaluation<R>> {
  let reason: string | undefined;
  try {
    return await write(result, dir, options.render);
  } catch (error) {
    reason = fileSystemReason(error);
    if (!reason) throw error;
  }
  const tried: string[] = [];
  for (const rescue of rescueDirs(result.runId, options.cacheDir)) {
    try {
      const written = await write(result, rescue, options.render);
      throw new RescuedOutput(dir, written, reason);
    } catch (error) {
      if (error instanceof RescuedOutput) throw error;
      tried.push(`${rescue}: ${fileSystemReason(error) ?? (error as Error).message}`);
    }
  }
  throw new OptibenchError(`could not write the results into this folder (${reason}), nor into ${tried.join('; ')}`, { file: dir });
}

async function write<R extends AnyResult>(result: R, dir: string, render: WriteOptions<R>['render']): Promise<WrittenEvaluation<R>> {
  const resultsFile = await writeResultFile(result, dir);
  const reportFile = render ? await writeFileAtomic(path.join(dir, 'index.html'), render(result)) : null;
  return { result, resultsFile, reportFile };
}
