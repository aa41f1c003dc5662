#!/usr/bin/env node
/**
 * The `optibench` command. Commands are thin: they parse flags, call into src/, and print. Each evaluator
 * brings its own verbs (the inference challenge's run, rescore, compare, bench, rerun, generate-model); `evaluate`
 * runs any evaluator, and the rest (leaderboard, plugins, schema, submission, team, tokenizer) serve them all.
 * Nothing imports the CLI.
 */
import { Command, CommanderError } from 'commander';
import type { AnyEvaluator } from '../core/evaluator.js';
import { isOptibenchError } from '../core/errors.js';
import { packageVersion } from '../core/paths.js';
import { EXIT } from '../core/cli/exit-codes.js';
import { endQuietlyWhenStdoutCloses } from '../core/cli/terminal.js';
import { loadEvaluators } from '../evaluators/index.js';
import { registerEvaluate } from './commands/evaluate.js';
import { registerLeaderboard } from './commands/leaderboard.js';
import { registerPlugins } from './commands/plugins.js';
import { registerSchema } from './commands/schema.js';
import { registerSubmission } from './commands/submission.js';
import { registerTeamCommand } from './commands/team.js';
import { registerTokenizer } from './commands/tokenizer.js';

export function buildProgram(evaluators: readonly AnyEvaluator[]): Command {
  const program = new Command('optibench')
    .description('Runs and judges inference-optimization competitions: LLaMA on HellaSwag with pluggable optimizations, and any evaluator registered beside it.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const evaluator of evaluators) evaluator.registerCommands?.(program);
  registerEvaluate(program, evaluators);
  registerSchema(program, evaluators);
  registerSubmission(program, evaluators[0]!);
  registerTeamCommand(program, evaluators);
  registerPlugins(program);
  registerTokenizer(program);
  registerLeaderboard(program, evaluators);
  return program;
}

function report(error: unknown): number {
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

async function main(argv: string[]): Promise<number> {
  try {
    const program = buildProgram(await loadEvaluators());
    await program.parseAsync(argv);
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (error) {
    return report(error);
  }
}

endQuietlyWhenStdoutCloses();
process.exitCode = await main(process.argv);
