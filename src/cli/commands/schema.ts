/**
 * `optibench schema <which>`: the JSON Schemas of the files optibench reads and writes, for editors and for
 * scripts: every evaluator's config and results.json, the submission manifest, a generic board's board.json,
 * and the other files an evaluator writes (the inference evaluator's compare.json, bench.json, leaderboard.json).
 */
import { ensureWritableFileDir } from '../../core/output-dir.js';
import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Command } from 'commander';
import type { AnyEvaluator } from '../../core/evaluator.js';
import { OptibenchError } from '../../core/errors.js';
import { resultJsonSchema } from '../../core/result.js';
import { didYouMean } from '../../core/suggest.js';
import { DEFAULT_EVALUATOR_ID, getEvaluator } from '../../evaluators/index.js';
import { boardFileSchema } from '../../leaderboard/board-file.js';
import { submissionJsonSchema } from '../../submissions/manifest.js';

/** What every evaluator has (config, results) and what they all share (submission, board). */
const SHARED = ['config', 'results', 'submission', 'board'] as const;

function evaluatorFileNames(evaluators: readonly AnyEvaluator[]): string[] {
  return [...new Set(evaluators.flatMap((e) => Object.keys(e.fileSchemas ?? {})))];
}

export function schemaFor(which: string, evaluator: AnyEvaluator, evaluators: readonly AnyEvaluator[] = [evaluator]): Record<string, unknown> {
  switch (which) {
    case 'config':
      return evaluator.config.jsonSchema();
    case 'results':
      return evaluator.resultJsonSchema?.() ?? resultJsonSchema();
    case 'submission':
      return submissionJsonSchema();
    case 'board':
      return z.toJSONSchema(boardFileSchema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  }
  const own = evaluator.fileSchemas?.[which];
  if (own) return own.jsonSchema();
  const writers = evaluators.filter((e) => e.fileSchemas?.[which]).map((e) => e.id);
  if (writers.length > 0) throw new OptibenchError(`the ${evaluator.id} evaluator writes no ${which} file (the ${writers.join(', ')} evaluator does: --evaluator ${writers[0]})`);
  const names = [...SHARED, ...evaluatorFileNames(evaluators)];
  throw new OptibenchError(`unknown schema "${which}"${didYouMean(which, names)} (expected one of ${names.join(', ')})`);
}

function schemaList(evaluators: readonly AnyEvaluator[]): string {
  const lines = [
    '  config       the evaluator\'s config file',
    '  results      its results.json',
    '  submission   optibench-submission.yaml, the submission manifest',
    "  board        board.json, beside a generic board's page",
  ];
  for (const e of evaluators) {
    for (const [name, { file }] of Object.entries(e.fileSchemas ?? {})) lines.push(`  ${name.padEnd(12)} ${file}${e.id === DEFAULT_EVALUATOR_ID ? '' : ` (--evaluator ${e.id})`}`);
  }
  return `\nSchemas:\n${lines.join('\n')}\n`;
}

export function registerSchema(program: Command, evaluators: readonly AnyEvaluator[]): void {
  program
    .command('schema')
    .description('Print the JSON Schema of a file optibench reads or writes: an evaluator\'s config and results.json, the submission manifest, board.json, compare.json, bench.json, leaderboard.json')
    .argument('[which]', [...SHARED, ...evaluatorFileNames(evaluators)].join(', '), 'config')
    .option('--evaluator <id>', `whose config and results (${evaluators.map((e) => e.id).join(', ')})`, DEFAULT_EVALUATOR_ID)
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .addHelpText('after', schemaList(evaluators))
    .action(async (which: string, flags: { evaluator: string; output?: string }) => {
      if (flags.output) await ensureWritableFileDir(flags.output, '--output');
      const text = `${JSON.stringify(schemaFor(which, getEvaluator(evaluators, flags.evaluator), evaluators), null, 2)}\n`;
      if (flags.output) await writeFile(flags.output, text);
      else process.stdout.write(text);
    });
}
