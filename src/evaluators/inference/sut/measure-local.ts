/**
 * A SUT measured on this machine without a sandbox, on the harness's clock: what `optibench sut check` does
 * for a team on its laptop, and what `optibench sut bench` compares with an in-process run.
 */
import type { Environment } from '../../../core/environment.js';
import { captureEnvironment } from '../../../core/environment.js';
import { randomShuffleSeed } from '../../../core/item-order.js';
import type { JsonObject } from '../../../core/json.js';
import { newRunId } from '../../../core/run-id.js';
import { hellaswagTask } from '../../../tasks/hellaswag/index.js';
import { listWeights, readLlamaConfig } from '../../../models/llama/hf-model.js';
import { weightsSha256 } from '../../../models/llama/weights-hash.js';
import type { SelectedItems } from '../rerun/items.js';
import type { InferenceResult } from '../results.js';
import { SutClient } from './client.js';
import { startLocalSut } from './local.js';
import { planForSut, type SutPlan } from './prepare.js';
import { sutResults } from './results.js';
import { measureSut, SESSION_DEFAULTS, type SessionOptions, SessionFailure } from './session.js';

export interface LocalMeasureOptions {
  readonly command: readonly string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly items: SelectedItems;
  /** How `items` were selected, for the results. */
  readonly limit: number | null;
  readonly seed: number;
  readonly modelDir: string;
  readonly cacheDir: string;
  readonly form: 'config' | 'command';
  readonly session?: Partial<Omit<SessionOptions, 'modelDir' | 'cacheDir' | 'vocabSize'>>;
  /** Reused between measurements of the same items (tokenizing once). */
  readonly plan?: SutPlan;
  readonly environment?: Environment;
  readonly echoStderr?: boolean;
}

export type LocalOutcome = { readonly ok: true; readonly results: InferenceResult } | { readonly ok: false; readonly error: string; readonly stderrTail: string };

export async function measureLocalSut(options: LocalMeasureOptions): Promise<LocalOutcome> {
  const startedAt = new Date();
  const t0 = performance.now();
  const sutPlan = options.plan ?? (await planForSut(options.items.docs, options.modelDir));
  const session: SessionOptions = { ...SESSION_DEFAULTS, seed: randomShuffleSeed(), ...options.session, modelDir: options.modelDir, cacheDir: options.cacheDir, vocabSize: sutPlan.vocabSize };
  const sut = startLocalSut(options.command, { cwd: options.cwd, env: { ...process.env, OPTIBENCH_MODEL: options.modelDir, OPTIBENCH_CACHE_DIR: options.cacheDir, ...options.env }, echoStderr: options.echoStderr });
  try {
    const measurement = await measureSut(new SutClient(sut), sutPlan.plan, session);
    const modelConfig = await readLlamaConfig(options.modelDir);
    const config: JsonObject = { command: [...options.command], limit: options.limit, seed: options.seed };
    return {
      ok: true,
      results: sutResults({
        runId: newRunId('hellaswag'),
        startedAt,
        config,
        subject: { configSha256: '', team: null, commit: null },
        environment: options.environment ?? (await captureEnvironment()),
        task: hellaswagTask,
        plan: sutPlan.plan,
        dataset: { path: options.items.datasetPath, sha256: options.items.datasetSha256, totalDocs: options.items.totalDocs, selectedDocs: options.items.docs.length, limit: options.limit, seed: options.seed },
        model: { dir: options.modelDir, weightsSha256: await weightsSha256((await listWeights(options.modelDir)).files, options.cacheDir), config: modelConfig as unknown as JsonObject },
        form: options.form,
        session,
        measurement,
        prepareMs: sutPlan.prepareMs,
        totalMs: performance.now() - t0,
      }),
    };
  } catch (error) {
    if (error instanceof SessionFailure) return { ok: false, error: error.reason, stderrTail: sut.stderrTail() };
    throw error;
  } finally {
    // Give a SUT that said bye a moment to exit on its own, then end whatever is left of it.
    await Promise.race([sut.ended, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    sut.stop();
  }
}
