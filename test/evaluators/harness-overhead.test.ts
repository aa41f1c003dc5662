/**
 * The runner's model-execution time (summed between the backend's probe calls) against ONNX Runtime's own
 * profiler, which times every `model_run` inside the runtime: an independent clock for the same thing. What
 * the runner calls harness overhead is then the measured pass minus that time, and nothing else.
 */
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema } from '../../src/evaluators/inference/config.js';
import { runEvaluation } from '../../src/evaluators/inference/runner.js';

const profileEvent = z.object({ name: z.string(), cat: z.string(), dur: z.number() });

describe('harness overhead: the probe around session.run against ONNX Runtime profiling', () => {
  it('model execution covers every model_run the runtime profiled, and overhead is the rest of the pass', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-overhead-'));
    const prefix = path.join(dir, 'ort-profile');
    const plugin = path.join(dir, 'profile-plugin.mjs');
    // A third-party plugin turning on ONNX Runtime's profiler through the session settings.
    await writeFile(
      plugin,
      `export default { name: 'ort-profile', version: '1.0.0', description: 'profiles the session', backends: ['onnx'],
        create: () => ({ sessionOptions({ session }) { session.extra.profileFilePrefix = ${JSON.stringify(prefix)}; } }) };\n`,
    );
    const results = await runEvaluation(
      configSchema.parse({ cacheDir: path.join(dir, 'cache'), outputDir: dir, limit: 24, batchSize: 4, repeats: 1, warmupBatches: 0, plugins: [plugin] }),
    );

    const [file] = (await readdir(dir)).filter((f) => f.startsWith('ort-profile') && f.endsWith('.json'));
    expect(file, 'ONNX Runtime wrote no profile').toBeDefined();
    const events = z.array(z.unknown()).parse(JSON.parse(await readFile(path.join(dir, file!), 'utf8')));
    const runs = events.flatMap((e) => {
      const parsed = profileEvent.safeParse(e);
      return parsed.success && parsed.data.name === 'model_run' ? [parsed.data.dur / 1000] : [];
    });
    // No warm-up and one pass: exactly one session run per batch (pairwise scoring), all of them measured.
    expect(runs).toHaveLength(results.payload.throughput.batches);
    const profiledMs = runs.reduce((a, b) => a + b, 0);

    const modelMs = results.timings.modelExecution!.repeats[0]!;
    const passMs = results.timings.inference.repeats[0]!;
    // The probe brackets the runtime's own model_run (plus the call across the N-API boundary): never less,
    // and not much more.
    expect(modelMs).toBeGreaterThanOrEqual(profiledMs * 0.999);
    expect(profiledMs / modelMs).toBeGreaterThan(0.8);
    expect(modelMs).toBeLessThanOrEqual(passMs);
    expect(results.timings.harnessOverhead).toBeCloseTo((passMs - modelMs) / passMs, 12);
  });
});
