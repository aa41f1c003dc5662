/** `optibench schema [config|results|submission]`: the JSON Schemas, for editors and for readers of results files. */
import { ensureWritableFileDir } from '../../core/output-dir.js';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { AnyEvaluator } from '../../core/evaluator.js';
import { OptibenchError } from '../../core/errors.js';
import { resultJsonSchema } from '../../core/result.js';
import { DEFAULT_EVALUATOR_ID, getEvaluator } from '../../evaluators/index.js';
import { submissionJsonSchema } from '../../submissions/manifest.js';

export function schemaFor(which: string, evaluator: AnyEvaluator): Record<string, unknown> {
  switch (which) {
    case 'config':
      return evaluator.config.jsonSchema();
    case 'results':
      return evaluator.resultJsonSchema?.() ?? resultJsonSchema();
    case 'submission':
      return submissionJsonSchema();
    default:
      throw new OptibenchError(`unknown schema "${which}" (expected config, results or submission)`);
  }
}

export function registerSchema(program: Command, evaluators: readonly AnyEvaluator[]): void {
  program
    .command('schema')
    .description("Print the JSON Schema of an evaluator's config file, of its results.json, or of the submission manifest")
    .argument('[which]', 'config, results or submission', 'config')
    .option('--evaluator <id>', `whose config and results (${evaluators.map((e) => e.id).join(', ')})`, DEFAULT_EVALUATOR_ID)
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (which: string, flags: { evaluator: string; output?: string }) => {
      if (flags.output) await ensureWritableFileDir(flags.output, '--output');
      const text = `${JSON.stringify(schemaFor(which, getEvaluator(evaluators, flags.evaluator)), null, 2)}\n`;
      if (flags.output) await writeFile(flags.output, text);
      else process.stdout.write(text);
    });
}
