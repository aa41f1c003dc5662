/**
 * The `optibench compression` verb group. Created here and handed to each verb's register function, so verbs
 * written elsewhere (`samples`, `bench`) are one more call below.
 */
import type { Command } from 'commander';
import type { Evaluator } from '../../../core/evaluator.js';
import type { CompressionConfig } from '../config.js';
import type { ChallengeRules } from '../judge.js';
import type { CompressionPayload } from '../results.js';
import { registerRun } from './run.js';

export type CompressionEvaluator = Evaluator<CompressionConfig, CompressionPayload, ChallengeRules>;

export function registerCompressionCommands(program: Command, evaluator: CompressionEvaluator): Command {
  const group = program.command('compression').description('Matrix compression: score a solution on bfloat16 activations (see src/evaluators/compression/PROTOCOL.md)');
  registerRun(group, evaluator);
  return group;
}
