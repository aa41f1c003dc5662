/** `optibench bench`: the plugin ablation (baseline, each plugin alone, all together) in one invocation. */
import { Option, type Command } from 'commander';
import { loadConfig } from '../config.js';
import { benchSummary, runBench, selectPlugins } from '../bench.js';
import { DEFAULT_GATE_METRIC, DEFAULT_MAX_DROP_POINTS } from '../gate.js';
import { DEFAULT_MICRO } from '../micro.js';
import { DEFAULT_NOISE } from '../contention.js';
import { StoppedEvaluation } from '../../../core/evaluation.js';
import { EXIT } from '../../../core/cli/exit-codes.js';
import { OptibenchError } from '../../../core/errors.js';
import { positiveInteger } from '../../../core/cli/options.js';
import { nonNegativeNumber } from '../../../core/cli/options.js';
import { addRunFlags, overridesFrom, type RunFlags } from './run-flags.js';
import { displayPath, interruptible } from '../../../core/cli/terminal.js';
import { stderrObserver } from '../runner.js';
import { addProgressFlags, wantsProgress, type ProgressFlags } from '../../../core/cli/progress.js';

interface BenchFlags extends RunFlags, ProgressFlags {
  metric: string;
  maxDrop: number;
  microTime: number;
  microSamples: number;
  reference?: 'pytorch' | 'onnx';
  peakTolerance: number;
  maxCv: number;
  maxLoadExcess: number;
  full?: boolean;
  segments?: number;
}

/** Segments per pass of `--full` unless `--segments` says otherwise: ~630 HellaSwag items each. */
export const FULL_RUN_SEGMENTS = 16;

export function registerBench(program: Command): void {
  const command = program
    .command('bench')
    .description('Benchmark the plugins: the baseline, each plugin alone and all together on the same items, with speedups, the gate and tinybench figures');
  addProgressFlags(addRunFlags(command, "the plugins to ablate (default: the config's plugins; a plugin the config lists keeps its options from there)"))
    .option('--metric <name>', 'the metric the gate judges', DEFAULT_GATE_METRIC)
    .option('--max-drop <points>', 'largest allowed drop of the metric, in points', nonNegativeNumber, DEFAULT_MAX_DROP_POINTS)
    .option('--micro-time <ms>', 'tinybench time budget per micro-benchmark', positiveInteger, DEFAULT_MICRO.timeMs)
    .addOption(
      new Option('--reference <backend>', 'also score the same items the lm-eval way (no plugins) on this backend, and compare throughput with it').choices(['pytorch', 'onnx']),
    )
    .option('--micro-samples <n>', 'tinybench minimum samples per micro-benchmark', positiveInteger, DEFAULT_MICRO.minSamples)
    .option('--peak-tolerance <percent>', 'mark the run noisy when the MatMul peak samples differ by more than this', nonNegativeNumber, 100 * DEFAULT_NOISE.peakTolerance)
    .option('--max-cv <percent>', "mark the run noisy when a configuration's pass times vary by more than this (coefficient of variation)", nonNegativeNumber, 100 * DEFAULT_NOISE.maxCv)
    .option(
      '--max-load-excess <n>',
      "mark the run noisy when the 1-minute load average at a peak sample exceeds the runs' own threads by more than this",
      nonNegativeNumber,
      DEFAULT_NOISE.maxLoadExcess,
    )
    .option(
      '--full',
      'the full-set figures: every item of the dataset, one pass each for the baseline and the plugins together (no plugin alone; plus --reference), interleaved segment by segment, no micro-benchmarks',
    )
    .option('--segments <n>', `split each pass into n turns over slices of the items, interleaved across the configurations (default: ${FULL_RUN_SEGMENTS} with --full, else 1)`, positiveInteger)
    .addHelpText('after', '\nExamples:\n  optibench bench --plugins head-pruning,prefix-sharing --limit 100 --repeats 3\n  optibench bench -c bench.yaml\n  optibench bench --plugins prefix-sharing --reference pytorch --limit 100\n  optibench bench --full -m medium -d hellaswag_val.jsonl --plugins kernel-fusion,quantization,prefix-sharing,head-pruning --reference pytorch\n')
    .action(async (flags: BenchFlags) => {
      process.exitCode = await benchCommand(flags);
    });
}

async function benchCommand(flags: BenchFlags): Promise<number> {
  // The plugin flags pick which plugins to ablate; the config keeps its list, whose entries carry their options.
  if (flags.full && (flags.limit !== undefined || flags.samples !== undefined)) {
    throw new OptibenchError('--full scores every item: leave out --limit and --samples', { key: flags.limit !== undefined ? '--limit' : '--samples' });
  }
  const loaded = await loadConfig(flags.config, { ...overridesFrom(flags), plugins: undefined });
  // The full set is every item once: a config file's limit or indices give way, and one pass unless -r says more.
  const config = flags.full ? { ...loaded.config, limit: null, limitMode: undefined, samples: undefined, repeats: flags.repeats ?? 1 } : loaded.config;
  const segments = flags.segments ?? (flags.full ? FULL_RUN_SEGMENTS : 1);
  try {
    const outcome = await interruptible((signal) =>
      runBench({
        config,
        plugins: selectPlugins(config, flags.plugin),
        ...(flags.reference ? { reference: flags.reference } : {}),
        gate: { metric: flags.metric, maxDropPoints: flags.maxDrop },
        micro: flags.full ? null : { timeMs: flags.microTime, minSamples: flags.microSamples },
        segments,
        combinedOnly: flags.full === true,
        noise: { peakTolerance: flags.peakTolerance / 100, maxCv: flags.maxCv / 100, maxLoadExcess: flags.maxLoadExcess },
        command: ['optibench', ...process.argv.slice(2)],
        onMessage: (message) => process.stderr.write(`optibench: ${message}\n`),
        observer: (label) => stderrObserver(label, signal, wantsProgress(flags)),
      }),
    );
    process.stdout.write(benchSummary(outcome.bench, { file: displayPath(outcome.file), report: displayPath(outcome.report) }));
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof StoppedEvaluation)) throw error;
    process.stderr.write(`optibench: error: ${error.message}\noptibench: what it finished is saved in ${displayPath(error.resultsFile)} (status: incomplete)\n`);
    return EXIT.runFailed;
  }
}
