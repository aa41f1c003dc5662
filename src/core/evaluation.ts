/**
 * The one path from an evaluation to its files, for every evaluator and every caller (a command, a
 * configuration of a comparison or a benchmark, the organizer's optibench inside a sandbox): run it, then write
 * `results.json` and the report into the run's folder. An evaluation that stops after computing something
 * writes what it computed as `results.incomplete.json` (never `results.json`) and its report, so nothing
 * already computed is lost; one that stops before computing anything writes nothing.
 */
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { EvaluationFailure } from './evaluator.js';
import { OptibenchError } from './errors.js';
import type { Result } from './result.js';
import { writeResultFile } from './result-file.js';

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
  /** The report page of a result (it may read files, e.g. the dataset for item texts); none: no report is written. */
  readonly render?: (result: R) => string | Promise<string>;
  /** Whether a stopped evaluation computed anything worth keeping; by default, anything it returned. */
  readonly hasWork?: (partial: R) => boolean;
  /** Told of every failure before anything is written (a recorder marks the run failed). */
  readonly onFailure?: (error: unknown) => void;
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
    const written = await write(partial, dir, options.render);
    throw new StoppedEvaluation(options.label, partial, written.resultsFile, error.cause);
  }
  return write(result, dir, options.render);
}

async function write<R extends AnyResult>(result: R, dir: string, render: WriteOptions<R>['render']): Promise<WrittenEvaluation<R>> {
  const resultsFile = await writeResultFile(result, dir);
  const reportFile = render ? await writeFileAtomic(path.join(dir, 'index.html'), await render(result)) : null;
  return { result, resultsFile, reportFile };
}
