/**
 * `optibench compression run <solution>`: score a solution on a sample set in the sandbox, write results.json
 * and the report; with `--db`, record the run (with `--team`, as the team's submission run by the organizer) and
 * judge it against score_to_beat: 1% above the current top of the board (another team's), or above the newest
 * baseline's when there is no winner yet (`optibench evaluate compression --db` judges the same way, but needs a
 * baseline in the store).
 */
import { ensureWritableDir } from '../../../core/output-dir.js';
import path from 'node:path';
import type { Command } from 'commander';
import { EXIT } from '../../../core/cli/exit-codes.js';
import { displayPath, interruptible } from '../../../core/cli/terminal.js';
import { addProgressFlags, wantsProgressLines, type ProgressFlags } from '../../../core/cli/progress.js';
import { evaluateAndWrite, StoppedEvaluation } from '../../../core/evaluation.js';
import { evaluatorTables, type EvaluationEntry, type RunRecording } from '../../../core/evaluator.js';
import { OptibenchError } from '../../../core/errors.js';
import type { Verdict } from '../../../core/result.js';
import { newRunId } from '../../../core/run-id.js';
import type { RunKind } from '../../../core/store.js';
import { bubblewrap, canSandbox } from '../../../sandbox/sandbox.js';
import { openStore } from '../../../store/sqlite-store.js';
import { registeredTeam } from '../../../submissions/team.js';
import { currentTop } from '../judge.js';
import type { CompressionResult } from '../results.js';
import { scoreToBeat } from '../scoring.js';
import type { CompressionEvaluator } from './group.js';

interface RunFlags extends ProgressFlags {
  config?: string;
  samples?: string;
  profile?: 'default' | 'lossless';
  db?: string;
  team?: string;
  commit?: string;
  asBaseline?: boolean;
  output?: string;
}

export function registerRun(group: Command, evaluator: CompressionEvaluator): void {
  const command = group
    .command('run')
    .description('Score a solution on the samples, each call in its own sandbox; with --db, record it and judge it against score_to_beat')
    .argument('<solution>', 'the solution folder (with optibench-solution.yaml)')
    .option('-c, --config <file>', 'the compression config (see `optibench schema config --evaluator compression`)')
    .option('--samples <dir>', "the sample set (manifest.csv + .npy files) (default: the config's)")
    .option('--profile <name>', "the scoring profile: default or lossless (default: the config's, else default)", (v: string) => {
      if (v !== 'default' && v !== 'lossless') throw new OptibenchError(`expected default or lossless, got "${v}"`, { key: '--profile' });
      return v;
    })
    .option('--db <file>', 'record the run in this results database')
    .option('--team <id>', "whose solution this is, a registered team's id (needs --db)")
    .option('--commit <sha>', "the solution's commit, when it is one")
    .option('--as-baseline', 'record the run as the baseline (needs --db)')
    .option('-o, --output <dir>', "where <run-id>/ is written (default: the config's output folder)");
  addProgressFlags(command)
    .addHelpText('after', '\nExit codes: 0 done (and reached score_to_beat when judged), 5 below score_to_beat, 3 stopped part-way, 1 bad input.\n')
    .action(async (solution: string, flags: RunFlags) => {
      process.exitCode = await runCommand(evaluator, solution, flags);
    });
}

async function runCommand(evaluator: CompressionEvaluator, solutionArg: string, flags: RunFlags): Promise<number> {
  if ((flags.team !== undefined || flags.asBaseline) && flags.db === undefined) throw new OptibenchError('--team and --as-baseline need --db <file>', { key: flags.team !== undefined ? '--team' : '--as-baseline' });
  if (flags.team !== undefined && flags.asBaseline) throw new OptibenchError("a team's submission is not a baseline: give --team or --as-baseline", { key: '--as-baseline' });
  const loaded = await evaluator.config.load(flags.config ? path.resolve(flags.config) : undefined, process.cwd());
  const config = { ...loaded, ...(flags.samples ? { samples: path.resolve(flags.samples) } : {}), ...(flags.profile ? { profile: flags.profile } : {}) };
  const entry: EvaluationEntry = { path: path.resolve(solutionArg), team: flags.team ?? null, commit: flags.commit ?? null };
  const runId = newRunId(evaluator.id);
  const outDir = path.join(path.resolve(flags.output ?? config.outputDir), runId);
  if (!canSandbox()) throw new OptibenchError('compression solutions run in the sandbox only: run as root with bubblewrap installed (/usr/bin/bwrap)');
  await ensureWritableDir(path.dirname(outDir), '--output');
  const store = flags.db === undefined ? undefined : openStore(path.resolve(flags.db), { evaluators: evaluatorTables([evaluator]) });
  try {
    const kind: RunKind = flags.asBaseline ? 'baseline' : flags.team !== undefined ? 'rerun' : 'run';
    let teamRowId: number | null = null;
    let submissionId: number | null = null;
    if (store && flags.team !== undefined) {
      teamRowId = registeredTeam(store, flags.team).rowId;
      const facts = { teamId: teamRowId, evaluator: evaluator.id, repository: entry.path!, commitSha: entry.commit ?? 'none', round: 1 };
      submissionId = store.findSubmission(facts) ?? store.addSubmission({ ...facts, manifest: { team: flags.team, entry: entry.path, commit: entry.commit } });
    }
    let started: { datasetSha256: string; totalItems: number } | undefined;
    const items: unknown[] = [];
    const recording: RunRecording | undefined = store && {
      started(run) {
        store.createRun({ id: runId, evaluator: evaluator.id, kind, config, submissionId, ...run });
        started = { datasetSha256: run.datasetSha256, totalItems: run.totalItems };
      },
      items(finished) {
        store.recordItems(runId, finished);
        items.push(...finished);
      },
    };
    let judged = null as { verdict: Verdict; beat: number | null } | null;
    let written;
    try {
      written = await evaluateAndWrite(
        async () => {
          const result = (await interruptible((signal) =>
            evaluator.evaluate(entry, config, { runId, outputDir: outDir, cacheDir: outDir, plugins: [], programs: bubblewrap, ...(recording ? { recording } : {}), signal, say: (m) => {
              if (wantsProgressLines(flags)) process.stderr.write(`optibench: ${m}\n`);
            } }),
          )) as CompressionResult;
          if (store && started && kind !== 'baseline') {
            const baseline = store.findRuns({ evaluator: evaluator.id, kind: 'baseline', status: 'complete', datasetSha256: started.datasetSha256, totalItems: started.totalItems }).find((r) => r.resultsPath !== null && (r.config.profile ?? 'default') === config.profile);
            const top = currentTop(store, evaluator, teamRowId, config.profile);
            if (baseline || top) {
              const reference = baseline ? ((await evaluator.readResult(baseline.resultsPath!)) as CompressionResult) : { ...result, runId: top!.runId, headline: { ...result.headline, value: null } };
              judged = { verdict: evaluator.judge!(result, reference, { top }), beat: scoreToBeat(top?.score ?? null, reference.headline.value, result.payload.challengeMargin) };
            }
          }
          return { ...result, verdict: judged?.verdict ?? null };
        },
        outDir,
        {
          label: evaluator.id,
          render: (result) => evaluator.renderReport(result),
          onFailure: (error) => {
            if (store && started) store.failRun(runId, { error: error instanceof OptibenchError ? error.oneLine() : String((error as Error)?.message ?? error) });
          },
        },
      );
    } catch (error) {
      if (!(error instanceof StoppedEvaluation)) throw error;
      process.stderr.write(`optibench: error: ${error.message}\noptibench: what it finished is saved in ${displayPath(error.resultsFile)} (status: incomplete)\n`);
      return EXIT.runFailed;
    }
    const result = written.result as CompressionResult;
    if (store && started) {
      store.finishRun(runId, { result, datasetSha256: started.datasetSha256, items, resultsPath: written.resultsFile, reportPath: written.reportFile });
      if (judged) store.recordVerdict({ runId, referenceRunId: judged.verdict.referenceRunId, passed: judged.verdict.passed, reason: judged.verdict.reason });
    }
    const m = result.metrics;
    const lines = [
      `optibench compression run ${runId}: ${result.payload.solution.name} (${result.payload.solution.protocol}, profile ${result.payload.profile.name})${kind === 'run' ? '' : ` (${kind})`}`,
      `  raw score      ${Number(result.payload.round.raw.toPrecision(10))}   (headline, higher is better)`,
      `  normalised     ${result.payload.round.normalized.toFixed(6)}`,
      `  ratio          ${m.ratio!.value.toFixed(4)} (mean of ${m.samples!.value - m.failed!.value} round-tripped samples)`,
      `  failed         ${m.failed!.value} of ${m.samples!.value}`,
    ];
    if (judged) lines.push(`  score_to_beat  ${judged.beat === null ? 'none' : Number(judged.beat.toPrecision(10))}`, `  verdict        ${judged.verdict.reason}`);
    lines.push(`  results        ${displayPath(written.resultsFile)}`);
    if (written.reportFile) lines.push(`  report         ${displayPath(written.reportFile)}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return judged && !judged.verdict.passed ? EXIT.gateFailed : EXIT.ok;
  } finally {
    store?.close();
  }
}
