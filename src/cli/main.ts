#!/usr/bin/env node
/**
 * The `optibench` command. Commands are thin: they parse flags, call into src/, and print. Nothing imports
 * the CLI.
 */
import { Command, CommanderError } from 'commander';
import { isOptibenchError } from '../core/errors.js';
import { packageVersion } from '../core/paths.js';
import { registerBench } from '../evaluators/inference/commands/bench.js';
import { registerCompare } from '../evaluators/inference/commands/compare.js';
import { registerGenerateModel } from './commands/generate-model.js';
import { registerLeaderboard } from './commands/leaderboard.js';
import { registerPlugins } from './commands/plugins.js';
import { registerRescore } from '../evaluators/inference/commands/rescore.js';
import { registerRerun } from '../evaluators/inference/commands/rerun.js';
import { registerRun } from '../evaluators/inference/commands/run.js';
import { registerSchema } from './commands/schema.js';
import { registerSubmission } from './commands/submission.js';
import { registerTokenizer } from './commands/tokenizer.js';
import { EXIT } from '../core/cli/exit-codes.js';

export function buildProgram(): Command {
  const program = new Command('optibench')
    .description('Runs and judges inference-optimization competitions: LLaMA on HellaSwag with pluggable optimizations.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerRun(program);
  registerRescore(program);
  registerCompare(program);
  registerBench(program);
  registerGenerateModel(program);
  registerSchema(program);
  registerSubmission(program);
  registerRerun(program);
  registerPlugins(program);
  registerTokenizer(program);
  registerLeaderboard(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; commander has already printed usage errors.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (isOptibenchError(error)) {
      process.stderr.write(`optibench: error: ${error.oneLine()}\n`);
      return EXIT.badInput;
    }
    process.stderr.write(`optibench: internal error (please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT.internal;
  }
}

process.exitCode = await main(process.argv);
