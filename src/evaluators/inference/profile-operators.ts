/**
 * `--profile-ops`: where a forward's time goes, operator by operator. The runtime's profiler slows what it
 * watches, so it never watches the measured passes: once they are done, a second session of the same build and
 * settings is opened with the profiler on, warmed up like the run, and given a sample of the run's batches
 * spread along the pass (batches are grouped by length, so the first ones alone would be the longest).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Backend, LoadRequest, OperatorProfile, TokenRequest } from '../../core/backend.js';
import { OptibenchError } from '../../core/errors.js';

/** At most this many profiled batches: the trace grows with every kernel of every run. */
export const MAX_PROFILED_BATCHES = 256;

export interface OperatorProfileRecord extends OperatorProfile {
  /** Batches of the run profiled, after `warmupBatches` unprofiled ones on the same session. */
  readonly batches: number;
  readonly warmupBatches: number;
}

/** `count` batches spread evenly along `batches` (all of them when there are no more). */
export function spreadSample<T>(batches: readonly T[], count: number): T[] {
  if (count >= batches.length) return [...batches];
  return Array.from({ length: count }, (_, i) => batches[Math.floor(((i + 0.5) * batches.length) / count)]!);
}

export interface ProfileRequest {
  readonly createBackend: () => Backend;
  /** The run's load request (model, build, session settings, cache); the profiler's directory is added here. */
  readonly load: Omit<LoadRequest, 'probe' | 'profileDir'>;
  readonly batches: readonly (readonly TokenRequest[])[];
  readonly warmupBatches: number;
  readonly count: number;
  readonly signal?: AbortSignal;
}

export async function profileOperators(request: ProfileRequest): Promise<OperatorProfileRecord> {
  if (!Number.isInteger(request.count) || request.count < 1 || request.count > MAX_PROFILED_BATCHES) {
    throw new OptibenchError(`the number of batches to profile must be a whole number from 1 to ${MAX_PROFILED_BATCHES}`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-profile-'));
  const backend = request.createBackend();
  try {
    if (!backend.operatorProfile) throw new OptibenchError(`the ${backend.name} backend has no per-operator profiler optibench can read (use the onnx backend)`);
    let runs = 0;
    await backend.load({ ...request.load, profileDir: dir, probe: { enter: () => void runs++, exit: () => {} } });
    // The first run of a session pays for its allocations: at least one batch is left out, as the run does.
    const warmup = request.batches.slice(0, Math.max(1, request.warmupBatches));
    const sample = spreadSample(request.batches, request.count);
    for (const batch of warmup) await answer(backend, batch, request.signal);
    const skipRuns = runs;
    for (const batch of sample) await answer(backend, batch, request.signal);
    const profile = await backend.operatorProfile(skipRuns);
    return { ...profile, batches: sample.length, warmupBatches: warmup.length };
  } finally {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function answer(backend: Backend, batch: readonly TokenRequest[], signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) throw new OptibenchError('interrupted by the user');
  await backend.loglikelihood(batch);
}
