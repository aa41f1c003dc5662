/**
 * prefix-sharing: the four endings of a HellaSwag item share one context. Run the context (and the endings'
 * common leading tokens) once, keep its keys and values, and score each ending from that cache, instead of
 * running four full sequences as lm-evaluation-harness does. Items are batched whole, longest first, so
 * padding stays small.
 */
import { z } from 'zod';
import type { TokenRequest } from '../../src/core/backend.js';
import { definePlugin } from '../../src/core/plugin.js';

const options = z.strictObject({
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

export default definePlugin({
  name: 'prefix-sharing',
  version: '1.0.0',
  description: "Runs each item's context once and scores its endings from the key/value cache; batches whole items, longest first",
  backends: ['onnx'],
  options,
  create(settings) {
    let itemsPerBatch = settings.itemsPerBatch;
    return {
      modelBuild({ build }) {
        build.extra.kvCache = true;
      },
      schedule({ requests, batchSize }) {
        itemsPerBatch ??= Math.max(1, Math.round(batchSize / 4));
        return documentBatches(requests, itemsPerBatch);
      },
      describe: () => ({ itemsPerBatch: itemsPerBatch ?? null, endingPrefixShared: true }),
    };
  },
});
