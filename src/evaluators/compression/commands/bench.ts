/** `optibench compression bench`: the shipped solutions' ratio, order-0 bound and speed on a sample set. */
import type { Command } from 'commander';
import { positiveInteger } from '../../../core/cli/options.js';
import { addProgressFlags, wantsProgressLines, type ProgressFlags } from '../../../core/cli/progress.js';
import { OptibenchError } from '../../../core/errors.js';
import { SHIPPED_SOLUTIONS, type ShippedSolution } from '../solutions/index.js';
import { benchSolutions, formatBenchTable } from '../solutions/bench.js';
import { PYTHON_OPTION_HELP, defaultPython } from './python.js';

export function registerBench(group: Command): void {
  const command = group
    .command('bench')
    .description('Measure the shipped solutions on a sample set: ratio, order-0 bound, compression and decompression MB/s on one core')
    .option('--samples <dir>', 'a sample set (optibench compression samples -o <dir>)', 'samples')
    .option('--solution <names>', `solutions joined by commas (default: ${SHIPPED_SOLUTIONS.join(',')})`)
    .option('--repeat <n>', 'runs per sample; the median is shown', positiveInteger, 5)
    .option('--json', 'print the figures as JSON')
    .option('--python <path>', PYTHON_OPTION_HELP, defaultPython());
  addProgressFlags(command).action(async (flags: ProgressFlags & { samples: string; solution?: string; repeat: number; json?: boolean; python: string }) => {
    const names = flags.solution ? flags.solution.split(',').map((s) => s.trim()) : [...SHIPPED_SOLUTIONS];
    for (const n of names) {
      if (!(SHIPPED_SOLUTIONS as readonly string[]).includes(n)) throw new OptibenchError(`--solution ${n}: expected one of ${SHIPPED_SOLUTIONS.join(', ')}`);
    }
    const report = await benchSolutions({
      samplesDir: flags.samples,
      solutions: names as ShippedSolution[],
      python: flags.python,
      repeat: flags.repeat,
      onProgress: (m) => {
        if (wantsProgressLines(flags)) process.stderr.write(`${m}\n`);
      },
    });
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatBenchTable(report)}\n`);
  });
}
