/** The `optibench compression` verb group: samples, run, bench. */
import type { Command } from 'commander';
import type { Evaluator } from '../../../core/evaluator.js';
import type { CompressionConfig } from '../config.js';
import type { ChallengeRules } from '../judge.js';
import type { CompressionPayload } from '../results.js';
import { registerBench } from './bench.js';
import { registerRun } from './run.js';
import { registerSamples } from './samples.js';

export type CompressionEvaluator = Evaluator<CompressionConfig, CompressionPayload, ChallengeRules>;

export function registerCompressionCommands(program: Command, evaluator: CompressionEvaluator): Command {
  const group = program.command('compression').description('Matrix compression: make samples, score a solution on bfloat16 activations, benchmark the shipped solutions (see src/evaluators/compression/PROTOCOL.md)');
  registerSamples(group);
  registerRun(group, evaluator);
  registerBench(group);
  return group;
}
