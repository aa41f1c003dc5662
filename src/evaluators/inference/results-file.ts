/** Reading the inference evaluator's results files, version 2, and version 1 (upgraded); core/result-file.ts writes them. */
import { OptibenchError } from '../../core/errors.js';
import { RESULT_VERSION } from '../../core/result.js';
import { parseResult, readResultJson } from '../../core/result-file.js';
import { INFERENCE_EVALUATOR_ID } from './hooks.js';
import { inferenceResultSchema, type InferenceResult } from './results.js';
import { resultsV1Schema, upgradeResultsV1 } from './results-v1.js';

/** Parses an inference result of any version this optibench reads, as version 2. */
export function parseInferenceResult(json: unknown, file: string): InferenceResult {
  const version = (json as { version?: unknown } | null)?.version;
  if (version === 1) return upgradeResultsV1(parseResult(resultsV1Schema, json, file));
  if (version !== RESULT_VERSION) {
    throw new OptibenchError(`results version ${String(version)} is not supported by this optibench (reads versions 1 and ${RESULT_VERSION})`, { file });
  }
  const evaluator = (json as { evaluator?: { id?: unknown } }).evaluator?.id;
  if (evaluator !== INFERENCE_EVALUATOR_ID) {
    throw new OptibenchError(`these are results of the ${String(evaluator)} evaluator, not of ${INFERENCE_EVALUATOR_ID}`, { file, key: 'evaluator.id' });
  }
  return parseResult(inferenceResultSchema, json, file);
}

export async function readResultsFile(file: string): Promise<InferenceResult> {
  const { json } = await readResultJson(file);
  return parseInferenceResult(json, file);
}
