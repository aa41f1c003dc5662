/** `optibench rescore results.json`: every metric recomputed from the stored log-likelihoods. */
import type { Command } from 'commander';
import { readResultsFile } from '../results-file.js';
import { checkRescorable, rescore } from '../rescore.js';
import { formatPercentStderr } from '../../../report/filters.js';
import { EXIT } from '../../../core/cli/exit-codes.js';

/** Stored metrics are the same floating-point sums, so anything beyond rounding means they were altered. */
const TOLERANCE = 1e-9;

export function registerRescore(program: Command): void {
  program
    .command('rescore')
    .description('Recompute every metric offline from the log-likelihoods stored in a results file (no model, no dataset)')
    .argument('<results>', 'a results.json (or results.incomplete.json) written by optibench run')
    .option('--json', 'print the recomputed metrics as JSON')
    .action(async (file: string, flags: { json?: boolean }) => {
      const results = await readResultsFile(file);
      checkRescorable(results, file);
      const again = rescore(results);
      const consistent = again.maxMetricDifference <= TOLERANCE && Object.keys(again.changedPredictions).length === 0;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ file, items: results.payload.items.length, consistent, ...again }, null, 2)}\n`);
      } else {
        const out: string[] = [`${file}: ${results.payload.items.length} items, ${results.payload.task.name} ${results.payload.task.version}`];
        for (const [name, m] of Object.entries(again.metrics)) {
          const stored = results.metrics[name];
          const note = stored ? (Math.abs(stored.value - m.value) <= TOLERANCE ? 'matches the stored value' : `stored ${formatPercentStderr(stored.value, stored.stderr)}`) : 'not stored';
          out.push(`  ${name.padEnd(10)} ${formatPercentStderr(m.value, m.stderr)} %   (${note})`);
        }
        for (const [metric, count] of Object.entries(again.changedPredictions)) out.push(`  ${metric}: ${count} stored predictions differ from the recomputed ones`);
        out.push(consistent ? '  consistent: the stored metrics follow from the stored log-likelihoods' : '  INCONSISTENT: the stored metrics do not follow from the stored log-likelihoods');
        process.stdout.write(`${out.join('\n')}\n`);
      }
      if (!consistent) process.exitCode = EXIT.checkFailed;
    });
}
