/** `optibench compare`: the accuracy gate, on two fresh runs or on two existing results files. */
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { compareResultsFiles, compareRuns, compareSummary, baselineOf, type CompareOutcome } from '../compare.js';
import { DEFAULT_GATE_METRIC, DEFAULT_MAX_DROP_POINTS } from '../gate.js';
import { StoppedEvaluation } from '../../../core/evaluation.js';
import { EXIT } from '../../../core/cli/exit-codes.js';
import { nonNegativeNumber } from '../../../core/cli/options.js';
import { addRunFlags, overridesFrom, type RunFlags } from './run-flags.js';
import { displayPath, interruptible } from '../../../core/cli/terminal.js';
import { stderrObserver } from '../runner.js';
import { addProgressFlags, wantsProgress, type ProgressFlags } from '../../../core/cli/progress.js';

interface CompareFlags extends RunFlags, ProgressFlags {
  baseline?: string;
  metric: string;
  maxDrop: number;
  submission?: boolean;
  results?: string[];
  backends?: string;
}

export function registerCompare(program: Command): void {
  const command = program
    .command('compare')
    .description('The accuracy gate: run a baseline and a candidate on the same items (or read two results files) and judge the candidate');
  addProgressFlags(addRunFlags(command, "the candidate's plugins, in order (replaces the config's list; the baseline runs without them)"))
    .option('--baseline <config>', "the baseline's config file; run flags apply to it too, except --plugin (default: the candidate's config without plugins)")
    .option('--metric <name>', 'the metric the gate judges', DEFAULT_GATE_METRIC)
    .option('--max-drop <points>', 'largest allowed drop of the metric, in points', nonNegativeNumber, DEFAULT_MAX_DROP_POINTS)
    .option('--submission', 'judge a submission: refuse a --limit subset')
    .option('--results <files...>', 'judge two existing results files (baseline, candidate) instead of running anything')
    .option('--backends <a,b>', 'cross-backend agreement: the same config (plugins included) on two backends, e.g. onnx,pytorch; also reports the largest log-likelihood difference and the share of identical predictions')
    .addHelpText(
      'after',
      '\nExit codes: 0 the gate passed, 5 it failed, 1 bad input, 2 usage, 3 a run stopped part-way.\n' +
        '\nExamples:\n  optibench compare --plugin head-pruning --limit 500\n  optibench compare -c submission.yaml --baseline baseline.yaml --submission\n' +
        '  optibench compare --results reports/<a>/results.json reports/<b>/results.json\n' +
        '  optibench compare --backends onnx,pytorch --limit 100\n',
    )
    .action(async (flags: CompareFlags) => {
      process.exitCode = await compareCommand(flags, command);
    });
}

async function compareCommand(flags: CompareFlags, command: Command): Promise<number> {
  const gate = { metric: flags.metric, maxDropPoints: flags.maxDrop };
  const argv = ['optibench', ...process.argv.slice(2)];
  let outcome: CompareOutcome;
  if (flags.results) {
    if (flags.results.length !== 2) command.error('error: --results takes two files: the baseline and the candidate', { exitCode: EXIT.usage });
    if (flags.config || flags.baseline || flags.plugin || flags.backends) {
      command.error('error: --results judges existing files: it takes no --config, --baseline, --plugin or --backends', { exitCode: EXIT.usage });
    }
    outcome = await compareResultsFiles({
      baselineFile: flags.results[0]!,
      candidateFile: flags.results[1]!,
      outputDir: path.resolve(flags.output ?? 'reports'),
      gate,
      submission: flags.submission === true,
      command: argv,
    });
  } else {
    const overrides = overridesFrom(flags);
    const backends = flags.backends === undefined ? undefined : parseBackends(flags.backends, flags, command);
    const on = (name: 'onnx' | 'pytorch' | undefined) => (name ? { ...overrides, backend: { ...overrides.backend, name } } : overrides);
    const { config: candidate } = await loadConfig(flags.config, on(backends?.[1]));
    const baseline = backends
      ? (await loadConfig(flags.config, on(backends[0]))).config
      : flags.baseline
        ? (await loadConfig(flags.baseline, { ...overrides, plugins: undefined })).config
        : baselineOf(candidate);
    try {
      outcome = await interruptible((signal) =>
        compareRuns({
          candidate,
          baseline,
          gate,
          submission: flags.submission === true,
          command: argv,
          observer: (side) => stderrObserver(side, signal, wantsProgress(flags)),
          agreement: backends !== undefined,
        }),
      );
    } catch (error) {
      if (!(error instanceof StoppedEvaluation)) throw error;
      process.stderr.write(`optibench: error: ${error.message}\noptibench: what it finished is saved in ${displayPath(error.resultsFile)} (status: incomplete)\n`);
      return EXIT.runFailed;
    }
  }
  process.stdout.write(compareSummary(outcome.compare, { file: displayPath(outcome.file), report: displayPath(outcome.report) }));
  return outcome.compare.verdict.pass ? EXIT.ok : EXIT.gateFailed;
}

/** `--backends a,b`: two different backends, and no flag that picks one side differently. */
function parseBackends(value: string, flags: CompareFlags, command: Command): ['onnx' | 'pytorch', 'onnx' | 'pytorch'] {
  const names = value.split(',').map((n) => n.trim());
  const known = (n: string): n is 'onnx' | 'pytorch' => n === 'onnx' || n === 'pytorch';
  if (names.length !== 2 || !names.every(known) || names[0] === names[1]) {
    command.error(`error: --backends takes two different backends, e.g. onnx,pytorch (got "${value}")`, { exitCode: EXIT.usage });
  }
  if (flags.backend || flags.baseline) command.error('error: --backends runs one config on each backend: it takes no --backend or --baseline', { exitCode: EXIT.usage });
  return names as ['onnx' | 'pytorch', 'onnx' | 'pytorch'];
}
