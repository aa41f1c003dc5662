/** `optibench schema [config|results]`: the JSON Schemas, for editors and for readers of results files. */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { configJsonSchema } from '../../evaluators/inference/config.js';
import { OptibenchError } from '../../core/errors.js';
import { inferenceResultSchema } from '../../evaluators/inference/results.js';
import { submissionJsonSchema } from '../../submissions/manifest.js';

export function schemaFor(which: string): Record<string, unknown> {
  switch (which) {
    case 'config':
      return configJsonSchema();
    case 'results':
      return z.toJSONSchema(inferenceResultSchema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
    case 'submission':
      return submissionJsonSchema();
    default:
      throw new OptibenchError(`unknown schema "${which}" (expected config, results or submission)`);
  }
}

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('Print the JSON Schema of the config file, of results.json or of the submission manifest')
    .argument('[which]', 'config, results or submission', 'config')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (which: string, flags: { output?: string }) => {
      const text = `${JSON.stringify(schemaFor(which), null, 2)}\n`;
      if (flags.output) await writeFile(flags.output, text);
      else process.stdout.write(text);
    });
}
