/**
 * `optibench export lm-eval <results.json> -o DIR` and `optibench run --output-format lm-eval`: a run's
 * results as lm-evaluation-harness writes its own (lm-eval/export.ts), for old runs and new ones alike.
 */
import { Option, type Command } from 'commander';
import { EXIT } from '../../../core/cli/exit-codes.js';
import { displayPath } from '../../../core/cli/terminal.js';
import { isOptibenchError } from '../../../core/errors.js';
import { ensureWritableDir } from '../../../core/output-dir.js';
import { writeLmEvalFiles } from '../lm-eval/export.js';
import type { InferenceResult } from '../results.js';
import { readResultsFile } from '../results-file.js';

export type OutputFormat = 'optibench' | 'lm-eval';

export function outputFormatOption(): Option {
  return new Option(
    '--output-format <format>',
    "lm-eval: also write lm-evaluation-harness's results_<date>.json and samples_hellaswag_<date>.jsonl beside results.json",
  )
    .choices(['optibench', 'lm-eval'])
    .default('optibench');
}

function lmEvalLines(written: { resultsFile: string; samplesFile: string; docHashesComparable: boolean }): string {
  const lines = [`  lm-eval    ${displayPath(written.resultsFile)}`, `             ${displayPath(written.samplesFile)}`];
  if (!written.docHashesComparable) {
    lines.push("             (the dataset lacks Hugging Face's raw columns: doc_hash is of the documents written here, not lm-eval's; prompt_hash and target_hash match)");
  }
  return `${lines.join('\n')}\n`;
}

/** After a finished run: the lm-eval files in the run's directory; a failure keeps the run and says so. */
export async function writeLmEvalBeside(results: InferenceResult, outDir: string): Promise<number> {
  try {
    process.stdout.write(lmEvalLines(await writeLmEvalFiles(results, outDir)));
    return EXIT.ok;
  } catch (error) {
    if (!isOptibenchError(error)) throw error;
    process.stderr.write(`optibench: error: the lm-eval files were not written: ${error.oneLine()}\n`);
    process.stderr.write(`optibench: the run itself is complete in ${displayPath(outDir)}; write them later with optibench export lm-eval\n`);
    return EXIT.badInput;
  }
}

export function registerExport(program: Command): void {
  const group = program.command('export').description('Write a results file in another tool\'s format');
  group
    .command('lm-eval')
    .description("Write lm-evaluation-harness's results_<date>.json and samples_hellaswag_<date>.jsonl from a results.json (reads the dataset it names again, for the items' text)")
    .argument('<results>', 'a results.json written by optibench run, compare or bench')
    .requiredOption('-o, --output <dir>', 'directory to write the two files into (created if needed)')
    .addHelpText('after', '\nExamples:\n  optibench export lm-eval reports/<run-id>/results.json -o lm-eval-out\n')
    .action(async (file: string, flags: { output: string }) => {
      const results = await readResultsFile(file);
      const dir = await ensureWritableDir(flags.output, '--output');
      process.stdout.write(`${file}: run ${results.runId}\n`);
      process.stdout.write(lmEvalLines(await writeLmEvalFiles(results, dir)));
    });
}
