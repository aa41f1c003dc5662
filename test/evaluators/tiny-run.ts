/**
 * InferenceResult of real runs of the embedded tiny model, and results derived from them with chosen per-item
 * correctness, for the gate's tests. Edited results keep everything a real run wrote except the items.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { configSchema, type ConfigInput } from '../../src/evaluators/inference/config.js';
import type { ItemResult, InferenceResult } from '../../src/evaluators/inference/results.js';
import { runEvaluation } from '../../src/evaluators/inference/runner.js';

export async function tinyRun(input: ConfigInput = {}): Promise<InferenceResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-evaluators-'));
  return runEvaluation(configSchema.parse({ cacheDir: path.join(dir, 'cache'), outputDir: dir, ...input }));
}

/**
 * A copy of `template` whose items are `correct.length` items (dataset indices 0, 1, ...): item i is right
 * under both metrics when correct[i], wrong otherwise (the gold is 0; a wrong pick is 1).
 */
export function withCorrectness(template: InferenceResult, correct: readonly boolean[]): InferenceResult {
  const model = template.payload.items[0]!;
  const items: ItemResult[] = correct.map((right, index) => ({
    ...structuredClone(model),
    index,
    gold: 0,
    predictions: { acc: right ? 0 : 1, acc_norm: right ? 0 : 1 },
  }));
  const result = structuredClone(template);
  return { ...result, payload: { ...result.payload, items } };
}

/** n booleans: the first `right` true, the rest false. */
export function firstRight(n: number, right: number): boolean[] {
  return Array.from({ length: n }, (_, i) => i < right);
}
