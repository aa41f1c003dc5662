/**
 * prefix-sharing: the four endings of a HellaSwag item share one context. Run the context (and the tokens
 * the endings share) once instead of four times as lm-evaluation-harness does: as a tree in one pass, or on
 * a key/value cache in two. Items are batched whole, longest first, so padding stays small.
 */
import { z } from 'zod';
import type { TokenRequest } from '../../src/core/backend.js';
import { OptibenchError } from '../../src/core/errors.js';
import { defineInferencePlugin } from '../../src/evaluators/inference/hooks.js';

const options = z.strictObject({
  /**
   * `tree`: one pass, each row a context and the trie of its endings under a tree attention mask (endings
   * that begin alike share those tokens too). `kv-cache`: the context (and the endings' common leading
   * tokens) in a first pass, each ending on its key/value cache in a second.
   */
  method: z.enum(['tree', 'kv-cache']).default('tree'),
  /** Items (documents) per batch; by default the run's batch size divided by four (the requests of an item). */
  itemsPerBatch: z.number().int().positive().optional(),
});

/** Whole documents per batch, longest first: a document's requests always travel together. */
export function documentBatches(requests: readonly TokenRequest[], itemsPerBatch: number): TokenRequest[][] {
  const byDocument = new Map<number, TokenRequest[]>();
  for (const request of requests) {
    const list = byDocument.get(request.group) ?? [];
    list.push(request);
    byDocument.set(request.group, list);
  }
  const length = (doc: TokenRequest[]) => Math.max(...doc.map((r) => r.context.length + r.continuation.length));
  const documents = [...byDocument.values()].sort((a, b) => length(b) - length(a) || a[0]!.group - b[0]!.group);
  const batches: TokenRequest[][] = [];
  for (let i = 0; i < documents.length; i += itemsPerBatch) batches.push(documents.slice(i, i + itemsPerBatch).flat());
  return batches;
}

export default defineInferencePlugin({
  name: 'prefix-sharing',
  version: '1.0.0',
  description: "Runs each item's context once (a tree of its endings in one pass, or a key/value cache); batches whole items, longest first",
  appliesTo: { evaluator: 'inference', targets: ['onnx', 'pytorch'] },
  options,
  create(settings) {
    let itemsPerBatch = settings.itemsPerBatch;
    return {
      modelBuild({ backend, build }) {
        if (settings.method === 'kv-cache' && backend === 'pytorch') {
          throw new OptibenchError('prefix-sharing method "kv-cache" needs the ONNX graph\'s key/value cache; the PyTorch backend shares prefixes as a tree: use method "tree" (the default)', { key: 'plugins' });
        }
        if (settings.method === 'tree') build.extra.treeMask = true;
        else build.extra.kvCache = true;
      },
      schedule({ requests, batchSize }) {
        itemsPerBatch ??= Math.max(1, Math.round(batchSize / 4));
        return documentBatches(requests, itemsPerBatch);
      },
      describe: () => ({ method: settings.method, itemsPerBatch: itemsPerBatch ?? null }),
    };
  },
});
