/**
 * `optibench evaluate <evaluator> [entry]`: any registered evaluator, through the contract alone: its config, its
 * plugins (checked against `appliesTo`), the sandbox for untrusted programs, the results store (created, items,
 * finished or failed), its verdict against the newest fitting baseline, and its results file and report through
 * the one run-and-write path. A competition without verbs of its own is run with this.
 */
import { ensureWritableDir } from '../../core/output-dir.js';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { EXIT } from '../../core/cli/exit-codes.js';
import { positiveInteger } from '../../core/cli/options.js';
import { displayPath, interruptible } from '../../core/cli/terminal.js';
import { addProgressFlags, wantsProgressLines, type ProgressFlags } from '../../core/cli/progress.js';
import { evaluateAndWrite, StoppedEvaluation } from '../../core/evaluation.js';
import { evaluatorTables, type AnyEvaluator, type EvaluationEntry, type RunRecording } from '../../core/evaluator.js';
import { OptibenchError } from '../../core/errors.js';
import { defaultCacheDir } from '../../core/paths.js';
import { loadPlugins } from '../../core/plugin-loader.js';
import type { Result, Verdict } from '../../core/result.js';
import { newRunId } from '../../core/run-id.js';
import { formatMs } from '../../report/filters.js';
import type { ResultsStore, RunKind, StoredRun } from '../../core/store.js';
import { bubblewrap, canSandbox } from '../../sandbox/sandbox.js';
import { openStore } from '../../store/sqlite-store.js';
import { registeredTeam } from '../../submissions/team.js';
import { getEvaluator } from '../../evaluators/index.js';

interface EvaluateFlags extends ProgressFlags {
  config?: string;
  db?: string;
  team?: string;
  commit?: string;
  round: number;
  asBaseline?: boolean;
  baseline?: string;
  output?: string;
  cacheDir?: string;
}

const run = promisify(execFile);

/** The entry's commit: given, else the HEAD of the git repository it is in, else none. */
async function commitOf(entry: string | null, given: string | undefined): Promise<string | null> {
  if (given !== undefined) return given;
  if (entry === null) return null;
  const dir = existsSync(entry) && !path.extname(entry) ? entry : path.dirname(entry);
  try {
    return (await run('git', ['-C', dir, 'rev-parse', 'HEAD'], { timeout: 10_000 })).stdout.trim() || null;
  } catch {
    return null;
  }
}

export function registerEvaluate(program: Command, evaluators: readonly AnyEvaluator[]): void {
  const command = program
    .command('evaluate')
    .description('Run any registered evaluator on an entry: its config and plugins, the sandbox, the results database, its verdict, results.json and the report')
    .argument('<evaluator>', `which evaluator (${evaluators.map((e) => e.id).join(', ')}; more from OPTIBENCH_EVALUATORS)`)
    .argument('[entry]', "what it scores: a program, a submission folder...; left out, the evaluator's default")
    .option('-c, --config <file>', "the evaluator's config file (see `optibench schema config --evaluator <id>`)")
    .option('--db <file>', 'record the run in this results database (SQLite; created if missing)')
    .option('--team <id>', "whose entry this is, a registered team's id (optibench team register): recorded (with --db) as the team's submission, run by the organizer, for the board")
    .option('--commit <sha>', "the entry's commit (default: the HEAD of the git repository it is in)")
    .option('--round <n>', 'the competition round of the submission', positiveInteger, 1)
    .option('--as-baseline', 'record the run (with --db) as the baseline later runs are judged against')
    .option('--baseline <run-id>', 'judge against this run (default: the newest complete baseline of the evaluator on the same data)')
    .option('-o, --output <dir>', "where <run-id>/ is written (default: the config's output folder)")
    .option('--cache-dir <dir>', 'where built artefacts are cached (default: ~/.cache/optibench)');
  addProgressFlags(command)
    .addHelpText(
      'after',
      '\nExit codes: 0 done (and passed its verdict), 5 the verdict failed, 3 it stopped part-way (what finished is kept), 1 bad input, 2 usage.\n' +
        '\nExamples:\n  optibench evaluate inference -c bench.yaml\n  OPTIBENCH_EVALUATORS=./my-evaluator.js optibench evaluate my-evaluator ./entry --db results.db --team team-abcd2345\n',
    )
    .action(async (id: string, entryArg: string | undefined, flags: EvaluateFlags) => {
      process.exitCode = await evaluateCommand(getEvaluator(evaluators, id), evaluators, entryArg, flags);
    });
}

async function evaluateCommand(evaluator: AnyEvaluator, all: readonly AnyEvaluator[], entryArg: string | undefined, flags: EvaluateFlags): Promise<number> {
  if ((flags.team !== undefined || flags.asBaseline || flags.baseline !== undefined) && flags.db === undefined) {
    throw new OptibenchError('--team, --as-baseline and --baseline need --db <file>: they are about the results database', { key: flags.team !== undefined ? '--team' : flags.asBaseline ? '--as-baseline' : '--baseline' });
  }
  if (flags.team !== undefined && flags.asBaseline) throw new OptibenchError("a team's submission is not a baseline: give --team or --as-baseline", { key: '--as-baseline' });
  const config = await evaluator.config.load(flags.config ? path.resolve(flags.config) : undefined, process.cwd());
  const entryPath = entryArg === undefined ? null : path.resolve(entryArg);
  if (entryPath !== null && !existsSync(entryPath)) throw new OptibenchError('the entry does not exist', { file: entryPath });
  const entry: EvaluationEntry = { path: entryPath, team: flags.team ?? null, commit: await commitOf(entryPath, flags.commit) };
  const { entries, scope } = evaluator.config.plugins(config);
  const plugins = await loadPlugins(entries, scope);
  const runId = newRunId(evaluator.id);
  const outDir = path.join(path.resolve(flags.output ?? evaluator.config.outputDir(config)), runId);
  const cacheDir = path.resolve(flags.cacheDir ?? evaluator.config.cacheDir(config) ?? defaultCacheDir());
  await ensureWritableDir(path.dirname(outDir), '--output');
  await ensureWritableDir(cacheDir, '--cache-dir');

  const store = flags.db === undefined ? undefined : openStore(path.resolve(flags.db), { evaluators: evaluatorTables(all) });
  try {
    const kind: RunKind = flags.asBaseline ? 'baseline' : flags.team !== undefined ? 'rerun' : 'run';
    const named = store && flags.baseline !== undefined ? namedBaseline(store, evaluator, flags.baseline) : undefined;
    // Before anything runs: an unregistered team is refused with nothing recorded.
    const teamRowId = store && flags.team !== undefined ? registeredTeam(store, flags.team).rowId : null;
    const submissionId = store && teamRowId !== null ? addTeamSubmission(store, evaluator, entry, flags, teamRowId) : null;
    const refused: string[] = [];
    let started: { datasetSha256: string; totalItems: number } | undefined;
    const items: unknown[] = [];
    const recording: RunRecording | undefined = store && {
      started({ configSha256, datasetPath, datasetSha256, totalItems, shuffleSeed }) {
        store.createRun({ id: runId, evaluator: evaluator.id, kind, config, configSha256, datasetPath, datasetSha256, totalItems, shuffleSeed, submissionId });
        started = { datasetSha256, totalItems };
      },
      items(finished) {
        store.recordItems(runId, finished);
        items.push(...finished);
      },
    };
    // Set inside the evaluation callback (TypeScript cannot see that it runs before the code below).
    let judged = null as Judged | null;
    let written;
    try {
      written = await evaluateAndWrite(
        async () => {
          const result = (await interruptible((signal) =>
            evaluator.evaluate(entry, config, {
              runId,
              outputDir: outDir,
              cacheDir,
              plugins,
              ...(canSandbox() ? { programs: bubblewrap } : {}),
              ...(recording ? { recording } : {}),
              signal,
              say: (message: string) => {
                if (wantsProgressLines(flags)) process.stderr.write(`optibench: ${message}\n`);
              },
            }),
          )) as Result;
          judged = store ? await judge(store, evaluator, result, started, named, refused, teamRowId) : null;
          return { ...result, verdict: judged?.verdict ?? null };
        },
        outDir,
        {
          label: evaluator.id,
          cacheDir,
          render: (result) => evaluator.renderReport(result),
          onFailure: (error) => {
            if (!store || started === undefined) return;
            const message = error instanceof OptibenchError ? error.oneLine() : String((error as Error)?.message ?? error);
            store.failRun(runId, { error: message });
          },
        },
      );
    } catch (error) {
      if (!(error instanceof StoppedEvaluation)) throw error;
      process.stderr.write(`optibench: error: ${error.message}\noptibench: what it finished is saved in ${displayPath(error.resultsFile)} (status: incomplete)\n`);
      return EXIT.runFailed;
    }
    const result = written.result;
    if (store && !started) {
      process.stderr.write(`optibench: warning: the ${evaluator.id} evaluator never said what it scores (context.recording.started): the run is not in ${displayPath(store.location)}\n`);
    }
    if (store && started) {
      store.finishRun(runId, { result, datasetSha256: started.datasetSha256, items, resultsPath: written.resultsFile, reportPath: written.reportFile });
      if (judged) {
        const { verdict, reference } = judged;
        if (evaluator.recordVerdict) evaluator.recordVerdict(store, runId, verdict, result, reference);
        else store.recordVerdict({ runId, referenceRunId: verdict.referenceRunId, passed: verdict.passed, reason: verdict.reason });
      }
    }
    process.stdout.write(summary(evaluator, result, written.resultsFile, written.reportFile, kind));
    for (const why of refused) process.stderr.write(`optibench: warning: ${why}\n`);
    // The baseline asked for could not judge: the run is kept, and the command says it did not do all it was asked.
    if (named && !judged) return EXIT.badInput;
    return result.verdict && !result.verdict.passed ? EXIT.gateFailed : EXIT.ok;
  } finally {
    store?.close();
  }
}

function addTeamSubmission(store: ResultsStore, evaluator: AnyEvaluator, entry: EvaluationEntry, flags: EvaluateFlags, teamId: number): number {
  const team = flags.team!;
  const facts = { teamId, evaluator: evaluator.id, repository: entry.path ?? '(default)', commitSha: entry.commit ?? 'none', round: flags.round };
  return store.findSubmission(facts) ?? store.addSubmission({ ...facts, manifest: { team, entry: entry.path, commit: entry.commit, round: flags.round } });
}

interface Judged {
  readonly verdict: Verdict;
  readonly reference: Result;
}

/** A baseline named with --baseline, checked before anything runs. */
function namedBaseline(store: ResultsStore, evaluator: AnyEvaluator, id: string): StoredRun {
  const run = store.readRun(id);
  const why = !run
    ? 'there is no such run in the results database'
    : run.evaluator !== evaluator.id
      ? `it is a run of the ${run.evaluator} evaluator`
      : run.status !== 'complete'
        ? `it is ${run.status}, not complete`
        : run.resultsPath === null
          ? 'its results file is not recorded'
          : null;
  if (why !== null) throw new OptibenchError(`run ${id} cannot be the baseline: ${why}`, { file: store.location, key: '--baseline' });
  return run!;
}

/**
 * The evaluator's verdict against the named baseline, or else the newest complete baseline of the evaluator that
 * scored the same data and number of items and that the evaluator can judge against; null without one. Why a
 * candidate could not judge goes to `refused` (a run is never lost for want of a verdict).
 */
async function judge(store: ResultsStore, evaluator: AnyEvaluator, result: Result, started: { datasetSha256: string; totalItems: number } | undefined, named: StoredRun | undefined, refused: string[], teamRowId: number | null): Promise<Judged | null> {
  if (!evaluator.judge || result.status !== 'complete') return null;
  // Looked up once, before the baselines: the rules (a board's current top) do not depend on which one judges.
  const rules: unknown = evaluator.judgeRules?.(store, result, teamRowId);
  const candidates = named
    ? [named]
    : started
      ? store.findRuns({ evaluator: evaluator.id, kind: 'baseline', status: 'complete', datasetSha256: started.datasetSha256, totalItems: started.totalItems }).filter((run) => run.resultsPath !== null)
      : [];
  for (const candidate of candidates) {
    try {
      const reference = (await evaluator.readResult(candidate.resultsPath!)) as Result;
      return { verdict: evaluator.judge(result, reference, rules), reference };
    } catch (error) {
      if (!(error instanceof OptibenchError)) throw error;
      refused.push(`baseline ${candidate.id} cannot judge this run: ${error.oneLine()}`);
    }
  }
  return null;
}

function summary(evaluator: AnyEvaluator, r: Result, resultsFile: string, reportFile: string | null, kind: RunKind): string {
  const h = r.headline;
  const better = h.direction === 'lower' ? 'lower is better' : 'higher is better';
  const lines = [`optibench evaluate ${evaluator.id} ${r.runId}: ${evaluator.title}${kind === 'run' ? '' : ` (${kind})`}`];
  const value = h.value === null ? 'not measured' : h.unit === 'ms' ? formatMs(h.value) : `${Number(h.value.toPrecision(6))}${h.unit ? ` ${h.unit}` : ''}`;
  lines.push(`  ${h.label.padEnd(12)} ${value}   (headline, ${better})`);
  for (const [name, m] of Object.entries(r.metrics)) lines.push(`  ${name.padEnd(12)} ${Number(m.value.toPrecision(6))}${m.stderr === null ? '' : ` ± ${Number(m.stderr.toPrecision(2))}`}`);
  if (r.verdict) lines.push(`  verdict      ${r.verdict.passed ? 'PASS' : 'FAIL'} against ${r.verdict.referenceRunId ?? 'its reference'}: ${r.verdict.reason}`);
  lines.push(`  results      ${displayPath(resultsFile)}`);
  if (reportFile) lines.push(`  report       ${displayPath(reportFile)}`);
  return `${lines.join('\n')}\n`;
}
