/** `optibench machine-check`: is this machine quiet enough for `optibench bench`? */
import { InvalidArgumentError, type Command } from 'commander';
import { EXIT } from '../../../core/cli/exit-codes.js';
import { nonNegativeInteger, nonNegativeNumber, positiveInteger } from '../../../core/cli/options.js';
import { interruptible } from '../../../core/cli/terminal.js';
import { DEFAULT_NOISE } from '../contention.js';
import { checkMachine, machineCheckSummary } from '../machine-check.js';
import { PEAK_SAMPLE_FLOOR } from '../peak-samples.js';

interface MachineCheckFlags {
  samples: number;
  gap: number;
  threads: number;
  peakTolerance: number;
  maxLoadExcess: number;
  json?: boolean;
}

export const DEFAULT_CHECK_SAMPLES = 12;
export const DEFAULT_CHECK_GAP_S = 5;
/** A check longer than this is a mistake in the flags, not a wish (24 h). */
const MAX_CHECK_SECONDS = 24 * 3600;

function atLeastTwo(value: string): number {
  const n = positiveInteger(value);
  if (n < 2) throw new InvalidArgumentError('expected at least 2 samples (the rule compares samples)');
  return n;
}

export function registerMachineCheck(program: Command): void {
  program
    .command('machine-check')
    .description(
      "Is this machine quiet enough to benchmark on? Samples the fp32 MatMul peak (the bench's own measurement) again and again with idle pauses between, with the load average and steal, and judges them by the bench's peak and load rules; exits 4 when a bench run now would be flagged noisy",
    )
    .option('--samples <n>', 'peak samples to take (at least 2)', atLeastTwo, DEFAULT_CHECK_SAMPLES)
    .option('--gap <seconds>', 'idle pause between two samples', nonNegativeNumber, DEFAULT_CHECK_GAP_S)
    .option('--threads <n>', "ONNX Runtime intra-op threads, as the bench's --threads (0 = its default, one per physical core)", nonNegativeInteger, 0)
    .option('--peak-tolerance <percent>', 'flag when the samples differ by more than this (as bench)', nonNegativeNumber, 100 * DEFAULT_NOISE.peakTolerance)
    .option('--max-load-excess <n>', 'flag when the 1-minute load average exceeds the threads by more than this (as bench)', nonNegativeNumber, DEFAULT_NOISE.maxLoadExcess)
    .option('--json', 'print the samples and the verdict as JSON (its JSON Schema: optibench schema machine-check) instead of text')
    .addHelpText(
      'after',
      '\nExit status: 0 quiet, 4 noisy (a bench started now would likely be flagged), 2 usage error.\n' +
        'The pauses leave the CPUs idle, so the check also shows how a VM\'s peak moves by itself; Ctrl-C stops it\nand judges what was sampled.\n' +
        '\nExamples:\n  optibench machine-check\n  optibench machine-check --samples 30 --gap 10 --threads 2\n  optibench machine-check --samples 3 --gap 0 --json\n',
    )
    .action(async (flags: MachineCheckFlags, command: Command) => {
      // Each sample takes at least PEAK_SAMPLE_FLOOR's 250 ms on top of its gap.
      if (flags.samples * (flags.gap + PEAK_SAMPLE_FLOOR.timeMs / 1000) > MAX_CHECK_SECONDS) {
        command.error(`error: --samples x (--gap + ${PEAK_SAMPLE_FLOOR.timeMs / 1000} s a sample) is over ${MAX_CHECK_SECONDS / 3600} hours (got ${flags.samples} x ${flags.gap} s)`, { exitCode: EXIT.usage });
      }
      const check = await interruptible((signal) =>
        checkMachine({
          samples: flags.samples,
          gapMs: flags.gap * 1000,
          intraOpThreads: flags.threads,
          peakTolerance: flags.peakTolerance / 100,
          maxLoadExcess: flags.maxLoadExcess,
          signal,
          onSample: (s, i) => {
            const load = s.loadAverage ? `load average ${s.loadAverage[0].toFixed(2)}` : 'load average unknown';
            const steal = s.stealShare === null ? 'steal unknown' : `steal ${(100 * s.stealShare).toFixed(1)} %`;
            process.stderr.write(`optibench: sample ${i + 1} of ${flags.samples}: ${s.gflopsPerSecond.toFixed(1)} GFLOP/s (p50 ${s.p50GflopsPerSecond.toFixed(1)}), ${load}, ${steal}\n`);
          },
        }),
      );
      if (check.samples.length < 2) {
        process.stderr.write('optibench: stopped before a second sample: nothing to compare, no verdict\n');
        process.exitCode = EXIT.runFailed;
        return;
      }
      process.stdout.write(flags.json ? `${JSON.stringify(check, null, 2)}\n` : machineCheckSummary(check));
      process.exitCode = check.noise.noisy ? EXIT.checkFailed : EXIT.ok;
    });
}
