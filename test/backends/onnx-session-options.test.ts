/**
 * The ONNX Runtime session options optibench opens every session with: memory patterns off unless a plugin
 * asks (they are planned per input shape, and a run's batches come in many lengths), and what the results
 * then say about it.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { toOrtSessionOptions } from '../../src/backends/onnx/backend.js';
import { configSchema } from '../../src/evaluators/inference/config.js';
import { runEvaluation } from '../../src/evaluators/inference/runner.js';

const session = (extra: Record<string, boolean>) => ({ executionProvider: 'cpu' as const, intraOpThreads: 1, interOpThreads: 1, extra });

describe('ONNX Runtime session options', () => {
  it('memory patterns are off by default and on when a plugin asks', () => {
    expect(toOrtSessionOptions(session({})).enableMemPattern).toBe(false);
    expect(toOrtSessionOptions(session({ enableMemPattern: true })).enableMemPattern).toBe(true);
    expect(() => toOrtSessionOptions({ ...session({}), extra: { enableMemPattern: 'yes' } })).toThrow(/must be true or false/);
  });

  it('the results record which way the session ran', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-mempattern-'));
    const run = (plugins: unknown[]) =>
      runEvaluation(configSchema.parse({ cacheDir: path.join(dir, 'cache'), outputDir: dir, limit: 4, plugins, backend: { intraOpThreads: 1 } }));
    expect((await run([])).payload.backend.load.memoryPattern).toBe(false);
    expect((await run([{ name: 'onnx-session', options: { memoryPattern: true } }])).payload.backend.load.memoryPattern).toBe(true);
    expect((await run(['onnx-session'])).payload.backend.load.memoryPattern).toBe(false);
  });
});
