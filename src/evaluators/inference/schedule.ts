/**
 * The request schedule: which requests run together in which order. The default sorts by length, longest
 * first (as lm-evaluation-harness's collator does: the first batch is the largest, so running out of memory
 * shows at once, and similar lengths share a batch so padding stays small). Plugins may replace it.
 */
import type { TokenRequest } from '../../core/backend.js';
import { OptibenchError } from '../../core/errors.js';
import type { LoadedInferencePlugin as LoadedPlugin } from './plugins.js';

export function lengthSortedBatches(requests: readonly TokenRequest[], batchSize: number): TokenRequest[][] {
  const sorted = [...requests].sort(
    (a, b) => b.context.length + b.continuation.length - (a.context.length + a.continuation.length) || a.id - b.id,
  );
  const batches: TokenRequest[][] = [];
  for (let i = 0; i < sorted.length; i += batchSize) batches.push(sorted.slice(i, i + batchSize));
  return batches;
}

/** The default schedule with each plugin's `schedule` hook applied in order; every request runs once. */
export function scheduleRequests(requests: readonly TokenRequest[], batchSize: number, plugins: readonly LoadedPlugin[]): TokenRequest[][] {
  let batches = lengthSortedBatches(requests, batchSize);
  for (const plugin of plugins) {
    if (!plugin.hooks.schedule) continue;
    batches = plugin.hooks.schedule({ requests, batchSize, batches });
    checkSchedule(requests, batches, plugin.definition.name);
  }
  return batches;
}

function checkSchedule(requests: readonly TokenRequest[], batches: readonly (readonly TokenRequest[])[], pluginName: string): void {
  const seen = new Set<number>();
  for (const batch of batches) {
    if (batch.length === 0) throw new OptibenchError(`plugin "${pluginName}" scheduled an empty batch`);
    for (const request of batch) {
      if (seen.has(request.id)) throw new OptibenchError(`plugin "${pluginName}" scheduled request ${request.id} twice`);
      seen.add(request.id);
    }
  }
  if (seen.size !== requests.length) {
    throw new OptibenchError(`plugin "${pluginName}" scheduled ${seen.size} of ${requests.length} requests: every request must run once`);
  }
}
