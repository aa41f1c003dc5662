/**
 * The evaluator contract: one competition's way of scoring an entry. The inference challenge, matrix
 * compression, tournaments and the training validator are each one evaluator in `src/evaluators/<id>/`,
 * found through the registry (`src/evaluators/index.ts`); the CLI, the store, the leaderboard and the coming
 * tournament know them only through this file.
 *
 * An evaluator owns its config (schema, JSON Schema, how a file is read), its result payload, the figure it
 * ranks by and which way wins, how it judges a result against a reference, its store tables, its board
 * columns, its report page, and its CLI verbs.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Command } from 'commander';
import type { BoardSpec } from './board.js';
import type { PluginEntry } from './plugin-entry.js';
import type { LoadedPlugin, PluginScope } from './plugin-loader.js';
import type { ProgramRunner } from './program.js';
import type { Direction, Result, Verdict } from './result.js';
import type { EvaluatorTables, EvaluatorTablesEntry, ResultsStore, StandingsSpec } from './store.js';

/** What is scored. */
export interface EvaluationEntry {
  /** A submission folder, a program, a config file...; null: the evaluator's embedded default. */
  readonly path: string | null;
  readonly team: string | null;
  /** The submission's commit, when it is one. */
  readonly commit: string | null;
}

/** What an evaluation reports to a recorder (the results store) while it runs. */
export interface RunRecording {
  /** Once the run knows what it scores, before the expensive part. */
  started(run: { readonly configSha256: string; readonly datasetPath: string; readonly datasetSha256: string; readonly totalItems: number; readonly shuffleSeed: number | null }): void;
  /** Items finished since the last call (the evaluator's item type). */
  items(items: readonly unknown[]): void;
}

export interface EvaluationContext {
  readonly runId: string;
  /** The run's own folder: its results file and report go here, and anything else it keeps. */
  readonly outputDir: string;
  /** Where built artefacts are cached between runs. */
  readonly cacheDir: string;
  /** The run's plugins, loaded for this evaluator and checked against `appliesTo`. */
  readonly plugins: readonly LoadedPlugin[];
  /** Where untrusted programs run (bubblewrap); absent where the machine cannot sandbox. */
  readonly programs?: ProgramRunner;
  readonly recording?: RunRecording;
  /** Aborting stops the run at the next safe point; what finished comes back in an EvaluationFailure. */
  readonly signal?: AbortSignal;
  /** A line of progress for the user. */
  readonly say?: (message: string) => void;
}

/** An evaluation that stopped after computing something: `partial` holds it, with status `incomplete`. */
export class EvaluationFailure<Payload = unknown> extends Error {
  constructor(
    readonly partial: Result<Payload>,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'EvaluationFailure';
  }
}

/** What a submission manifest says to run: a config of the evaluator, or a program. */
export type SubmissionRun = { readonly config: string } | { readonly command: readonly string[] };

export interface ProbeOptions {
  /** Where the entry is started; absent where the machine cannot sandbox (then it runs as the user: their own code). */
  readonly programs?: ProgramRunner;
  /** How long it has to answer. */
  readonly seconds: number;
}

/** Whether the entry answered, and a line saying what happened. */
export interface ProbeOutcome {
  readonly ok: boolean;
  readonly message: string;
}

export interface HeadlineSpec {
  readonly name: string;
  readonly label: string;
  readonly unit: string;
  readonly direction: Direction;
  /** The figure is a positive quantity (a time): zero or less is no measurement and is never ranked. */
  readonly positive?: boolean;
}

export interface EvaluatorConfig<Config> {
  readonly schema: StandardSchemaV1<unknown, Config>;
  /** For editors and `optibench schema config --evaluator <id>`. */
  jsonSchema(): Record<string, unknown>;
  /** Reads a config file (or the defaults, without one): errors name the file, the line and the key. */
  load(file: string | undefined, cwd?: string): Promise<Config>;
  /** The plugins the config lists, and what they are loaded for. */
  plugins(config: Config): { readonly entries: readonly PluginEntry[]; readonly scope: PluginScope };
  /** Where the config says output goes and built things are cached. */
  outputDir(config: Config): string;
  cacheDir(config: Config): string | null;
}

export interface Evaluator<Config = unknown, Payload = unknown, Rules = unknown> {
  /** Lower-case, dash-separated: what plugins' `appliesTo`, the store and the CLI name it by. */
  readonly id: string;
  /** Bumped when scoring changes, so results say which rules scored them. */
  readonly version: string;
  readonly title: string;
  readonly description: string;
  readonly config: EvaluatorConfig<Config>;
  /** The figure it ranks by, and which way wins. */
  readonly headline: HeadlineSpec;
  evaluate(entry: EvaluationEntry, config: Config, context: EvaluationContext): Promise<Result<Payload>>;
  /** Judges a candidate against a reference (the accuracy gate against the baseline; a score to beat). */
  judge?(candidate: Result<Payload>, reference: Result<Payload>, rules?: Rules): Verdict;
  /**
   * What `judge` needs from the store beyond the reference (the current top of a board a newcomer must beat),
   * looked up when a run is judged with a results database; `teamRowId` is the candidate's team, if any.
   */
  judgeRules?(store: ResultsStore, candidate: Result<Payload>, teamRowId: number | null): Rules;
  /**
   * Records a verdict of `judge` on a finished run with the figures behind it (in its own tables); when absent,
   * the verdict alone is recorded.
   */
  recordVerdict?(store: ResultsStore, runId: string, verdict: Verdict, candidate: Result<Payload>, reference: Result<Payload>, rules?: Rules): void;
  /** What a verdict is called on boards and in notes ("accuracy-gate"). */
  readonly verdictLabel?: string;
  /** The JSON Schema of its results file, payload included; the envelope's alone when absent. */
  resultJsonSchema?(): Record<string, unknown>;
  /**
   * The other files it writes for scripts to read, by the name `optibench schema <name>` prints them under
   * (the inference evaluator's compare, bench, leaderboard): what each file is, and its JSON Schema.
   */
  readonly fileSchemas?: Readonly<Record<string, { readonly file: string; jsonSchema(): Record<string, unknown> }>>;
  /** Reads one of its results files, upgrading older versions. */
  readResult(file: string): Promise<Result<Payload>>;
  /** The run's report page (standalone HTML); it may read files (the inference report reads item texts from the dataset). */
  renderReport(result: Result<Payload>): string | Promise<string>;
  readonly tables?: EvaluatorTables;
  readonly board: BoardSpec;
  /**
   * Starts a submission's entry just long enough to see that it answers (a SUT's hello), for `optibench
   * submission check`: what otherwise only a re-run would find.
   */
  probeSubmission?(run: SubmissionRun, root: string, options: ProbeOptions): Promise<ProbeOutcome>;
  /** Its own CLI verbs; `optibench evaluate <id>` works for every evaluator without them. */
  registerCommands?(program: Command): void;
}

// Evaluators of different configs and payloads live side by side in the registry.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyEvaluator = Evaluator<any, any, any>;

/** What the store needs of an evaluator to build its standings. */
export function standingsSpec(evaluator: AnyEvaluator): StandingsSpec {
  return {
    evaluator: evaluator.id,
    direction: evaluator.headline.direction,
    scoreLabel: evaluator.headline.label,
    positiveScore: evaluator.headline.positive ?? false,
    verdictLabel: evaluator.judge ? (evaluator.verdictLabel ?? 'verdict') : null,
  };
}

/** The tables of these evaluators, for opening a store with them. */
export function evaluatorTables(evaluators: readonly AnyEvaluator[]): EvaluatorTablesEntry[] {
  return evaluators.flatMap((e) => (e.tables ? [{ id: e.id, tables: e.tables }] : []));
}
