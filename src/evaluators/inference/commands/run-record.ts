/**
 * The results-database and anti-cheat flags of `optibench run`: `--db` records the run as it goes, `--resume`
 * continues an interrupted one from the database, `--shuffle-seed` and `--canary` shape the issue order and
 * the canary check. Kept apart from run.ts so the command itself stays about running and printing.
 */
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_CANARY_TOLERANCE } from '../canary.js';
import { loadConfig, type RunConfig } from '../config.js';
import { OptibenchError } from '../../../core/errors.js';
import { MAX_SHUFFLE_SEED } from '../../../core/item-order.js';
import type { InferenceResult } from '../results.js';
import { RunFailure, newRunId, type RunObserver, type RunOptions } from '../runner.js';
import { RunRecorder } from '../store/recorder.js';
import { loadResume } from '../store/resume.js';
import { openInferenceStore } from '../store/runs.js';
import type { SqliteStore } from '../../../store/sqlite-store.js';
import { nonNegativeInteger, nonNegativeNumber } from '../../../core/cli/options.js';
import { overridesFrom, type RunFlags } from './run-flags.js';
import { ensureRunFolders } from '../run-folders.js';

export interface RecordFlags {
  db?: string;
  resume?: string;
  shuffleSeed?: number;
  canary?: number;
  canaryTolerance?: number;
  asBaseline?: boolean;
}

function shuffleSeedFlag(value: string): number {
  const n = nonNegativeInteger(value);
  if (n > MAX_SHUFFLE_SEED) throw new InvalidArgumentError(`expected an integer from 0 to ${MAX_SHUFFLE_SEED}`);
  return n;
}

export function addRecordFlags(command: Command): Command {
  return command
    .option('--db <file>', 'record the run in this results database (SQLite; created if missing) as it goes, so it can be resumed')
    .option('--as-baseline', "record the run (with --db) as the competition's baseline: organizer re-runs of submissions are judged against it")
    .option('--resume <run-id>', 'continue an interrupted or failed run recorded with --db: same config, finished items kept')
    .option('--shuffle-seed <n>', 'seed of the order items are issued in (default: a random seed, recorded)', shuffleSeedFlag)
    .option('--canary <n>', 're-issue n items per measured pass with their endings reordered; the run fails if any answer changes', nonNegativeInteger)
    .option('--canary-tolerance <x>', `largest allowed log-likelihood difference for --canary (default ${DEFAULT_CANARY_TOLERANCE})`, nonNegativeNumber);
}

/** The flags that shape a run's config: a resumed run takes its config from the database instead. */
const SHAPING_FLAGS: readonly (keyof RunFlags | 'shuffleSeed')[] = [
  'config', 'model', 'dataset', 'backend', 'provider', 'dtype', 'threads', 'plugin', 'limit', 'limitMode', 'samples', 'seed', 'batchSize', 'repeats', 'warmup', 'output', 'cacheDir', 'shuffleSeed',
];

const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export interface PreparedRunCommand {
  readonly config: RunConfig;
  readonly runId: string;
  readonly options: RunOptions;
  /** Observer hooks that record the run; empty without --db. */
  readonly hooks: Pick<RunObserver, 'onPrepared' | 'onItems'>;
  readonly recorder: RunRecorder | undefined;
  readonly resumed: boolean;
  close(): void;
}

/** Reads the config (from flags and file, or from the database for --resume) and opens the recording. */
export async function prepareRunCommand(flags: RunFlags & RecordFlags): Promise<PreparedRunCommand> {
  if (flags.resume !== undefined && flags.db === undefined) {
    throw new OptibenchError('--resume needs --db <file>: the run to continue is recorded in the results database', { key: '--resume' });
  }
  if (flags.canaryTolerance !== undefined && !flags.canary) {
    throw new OptibenchError('--canary-tolerance needs --canary <n>', { key: '--canary-tolerance' });
  }
  if (flags.asBaseline && flags.db === undefined) {
    throw new OptibenchError('--as-baseline needs --db <file>: the baseline is recorded in the results database', { key: '--as-baseline' });
  }
  if (flags.asBaseline && flags.resume !== undefined) {
    throw new OptibenchError('--as-baseline does not go with --resume: a resumed run keeps the kind it was recorded with', { key: '--as-baseline' });
  }
  const canary = flags.canary ? { items: flags.canary, tolerance: flags.canaryTolerance ?? DEFAULT_CANARY_TOLERANCE } : undefined;
  let db: SqliteStore | undefined;
  try {
    if (flags.resume !== undefined) {
      const given = SHAPING_FLAGS.filter((key) => flags[key] !== undefined).map(flagName);
      if (given.length) {
        throw new OptibenchError(`--resume continues the run with the configuration it started with: leave out ${given.join(', ')}`, { key: '--resume' });
      }
      db = openInferenceStore(path.resolve(flags.db!));
      const state = await loadResume(db, flags.resume);
      await ensureRunFolders([state.config]);
      const recorder = new RunRecorder(db, flags.resume, state.config, { resumed: state.run });
      const openDb = db;
      return {
        config: state.config,
        runId: flags.resume,
        options: { resume: state.items, resumeRequests: state.requests, shuffleSeed: state.shuffleSeed, canary },
        hooks: recorder.hooks,
        recorder,
        resumed: true,
        close: () => openDb.close(),
      };
    }
    const { config } = await loadConfig(flags.config, overridesFrom(flags));
    await ensureRunFolders([config]);
    const runId = newRunId(config.task);
    db = flags.db === undefined ? undefined : openInferenceStore(path.resolve(flags.db));
    const recorder = db ? new RunRecorder(db, runId, config, { kind: flags.asBaseline ? 'baseline' : 'run' }) : undefined;
    const openDb = db;
    return {
      config,
      runId,
      options: { shuffleSeed: flags.shuffleSeed, canary },
      hooks: recorder?.hooks ?? {},
      recorder,
      resumed: false,
      close: () => openDb?.close(),
    };
  } catch (error) {
    db?.close();
    throw error;
  }
}

/** Marks the run failed in the database (when recorded); a database that cannot be written is only warned about, so the run's own error is what the user sees. */
export function recordFailure(recorder: RunRecorder | undefined, error: unknown): void {
  if (!recorder) return;
  const message = error instanceof RunFailure ? (error.partial.error ?? error.message) : error instanceof OptibenchError ? error.oneLine() : String((error as Error)?.message ?? error);
  try {
    recorder.fail(message, error instanceof RunFailure ? error.partial.payload.items : []);
  } catch (dbError) {
    process.stderr.write(`optibench: warning: could not record the failure in the results database: ${(dbError as Error).message}\n`);
  }
}

/** Summary lines on the run's order, canary and resumption. */
export function recordLines(r: InferenceResult): string[] {
  const lines: string[] = [];
  if (r.payload.shuffleSeed !== undefined) lines.push(`  order      shuffle seed ${r.payload.shuffleSeed} · config sha256 ${(r.subject.configSha256 ?? '').slice(0, 12)}…`);
  if (r.payload.canary) lines.push(`  canary     ${r.payload.canary.items} items re-issued in each pass: answers matched (max |Δ| ${r.payload.canary.maxAbsDiff.toExponential(1)} ≤ ${r.payload.canary.tolerance})`);
  if (r.payload.resumed) {
    const requests = r.payload.resumed.requestsCarriedOver ? ` and ${r.payload.resumed.requestsCarriedOver} finished requests of unfinished items` : '';
    lines.push(`  resumed    ${r.payload.resumed.itemsCarriedOver} items${requests} carried over; timings cover the ${r.payload.resumed.itemsRun} computed now, not a full run`);
  }
  return lines;
}
