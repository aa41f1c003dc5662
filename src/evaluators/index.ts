/**
 * The evaluator registry: id -> evaluator. The CLI, the leaderboard and the coming tournament look evaluators up
 * here and nowhere else. Built-in evaluators are listed below; more come from modules named in
 * `OPTIBENCH_EVALUATORS` (comma-separated file paths or npm package names, each default-exporting an evaluator),
 * loaded like plugins, so a competition can live outside optibench's tree.
 */
import { z } from 'zod';
import type { AnyEvaluator } from '../core/evaluator.js';
import { OptibenchError } from '../core/errors.js';
import { importDefault, resolveModule } from '../core/plugin-loader.js';
import { compressionEvaluator } from './compression/index.js';
import { inferenceEvaluator } from './inference/index.js';

/** The first is the default: its board is the leaderboard site's front page, its verbs are the top-level ones. */
const BUILTIN: readonly AnyEvaluator[] = [inferenceEvaluator, compressionEvaluator];

export const DEFAULT_EVALUATOR_ID = BUILTIN[0]!.id;

const ID = /^[a-z0-9][a-z0-9-]*$/;
const fn = z.custom<unknown>((v) => typeof v === 'function', { message: 'a function' });

/** What the registry checks of a module's evaluator before it trusts it with a run. */
const evaluatorShape = z.object({
  id: z.string().regex(ID, 'lower-case letters, digits and dashes'),
  version: z.string().min(1),
  title: z.string().min(1),
  description: z.string().min(1),
  config: z.object({ schema: z.custom<unknown>((v) => typeof v === 'object' && v !== null && '~standard' in v, { message: 'a Standard Schema' }), jsonSchema: fn, load: fn, plugins: fn, outputDir: fn, cacheDir: fn }),
  headline: z.object({ name: z.string().min(1), label: z.string().min(1), unit: z.string(), direction: z.enum(['lower', 'higher']) }),
  evaluate: fn,
  judge: fn.optional(),
  readResult: fn,
  renderReport: fn,
  tables: z.object({ migrations: z.array(z.object({ description: z.string(), up: fn })) }).loose().optional(),
  board: z.object({ title: z.string().min(1), columns: z.array(z.object({ key: z.string().min(1), label: z.string(), format: z.string(), value: fn })) }).loose(),
  registerCommands: fn.optional(),
});

export function builtinEvaluators(): readonly AnyEvaluator[] {
  return BUILTIN;
}

/** `OPTIBENCH_EVALUATORS`, split. */
export function evaluatorModules(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.OPTIBENCH_EVALUATORS ?? '')
    .split(',')
    .map((spec) => spec.trim())
    .filter(Boolean);
}

/** Imports and checks one evaluator module (a file path or an npm package name). */
export async function loadEvaluatorModule(spec: string, cwd = process.cwd()): Promise<AnyEvaluator> {
  const found = resolveModule(spec, cwd, 'evaluator module');
  if (!found) throw new OptibenchError(`evaluator module "${spec}" is neither a file nor an installed npm package`, { key: 'OPTIBENCH_EVALUATORS' });
  const { file } = found;
  const candidate = await importDefault(file, `evaluator module "${spec}"`);
  const parsed = evaluatorShape.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OptibenchError(`evaluator module "${spec}" is not a valid optibench evaluator: ${issue.path.join('.') || 'default export'}: ${issue.message} (see src/core/evaluator.ts)`, { file });
  }
  return candidate as AnyEvaluator;
}

/** The built-in evaluators and those of `OPTIBENCH_EVALUATORS`, in that order; two with one id are refused. */
export async function loadEvaluators(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<AnyEvaluator[]> {
  const all = [...BUILTIN];
  for (const spec of evaluatorModules(env)) {
    const evaluator = await loadEvaluatorModule(spec, cwd);
    if (all.some((e) => e.id === evaluator.id)) throw new OptibenchError(`two evaluators have the id "${evaluator.id}" (the second from ${spec})`, { key: 'OPTIBENCH_EVALUATORS' });
    all.push(evaluator);
  }
  return all;
}

export function getEvaluator(evaluators: readonly AnyEvaluator[], id: string): AnyEvaluator {
  const evaluator = evaluators.find((e) => e.id === id);
  if (!evaluator) throw new OptibenchError(`unknown evaluator "${id}" (known: ${evaluators.map((e) => e.id).join(', ')}; more come from OPTIBENCH_EVALUATORS)`);
  return evaluator;
}
