import { readFileSync } from 'node:fs';
import os from 'node:os';
import { describe, it, expect } from 'vitest';
import { captureEnvironment, DEFAULT_ENVIRONMENT_TIMEOUT_MS, describeMachine, peakRssBytes, type Environment } from '../../src/core/environment.js';
import { environmentSchema } from '../../src/core/environment.js';

function packageVersion(path: string): string {
  return (JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version: string }).version;
}

describe('captureEnvironment', () => {
  it('agrees with Node and the installed packages, validates, and finishes within its timeout', async () => {
    const started = performance.now();
    const env = await captureEnvironment({ tokenizers: '9.9.9' });
    const elapsed = performance.now() - started;

    expect(elapsed).toBeLessThan(DEFAULT_ENVIRONMENT_TIMEOUT_MS + 1000);
    expect(environmentSchema.parse(env)).toEqual(env);
    expect(env.cpu.cores).toBe(os.cpus().length);
    expect(env.cpu.physicalCores).toBeGreaterThan(0);
    expect(env.cpu.physicalCores).toBeLessThanOrEqual(env.cpu.cores);
    expect(Math.abs(env.memory.totalBytes - os.totalmem()) / os.totalmem()).toBeLessThan(0.01);
    expect(env.hostname).toBe(os.hostname());
    expect(env.os.arch).toBe(os.arch());
    expect(env.os.platform).toBe(os.platform());
    expect(env.versions.node).toBe(process.version);
    expect(env.versions.optibench).toBe(packageVersion('../../package.json'));
    expect(env.versions.onnxruntime).toBe(packageVersion('../../node_modules/onnxruntime-node/package.json'));
    expect(env.versions.tokenizers).toBe('9.9.9');
    for (const gpu of env.gpus) expect(gpu.vramMB === null || gpu.vramMB > 0).toBe(true);
  });

  it('falls back to os values, without throwing, when systeminformation does not answer in time', async () => {
    // A zero deadline: the real systeminformation cannot answer first, so every value comes from the fallback.
    const started = performance.now();
    const env = await captureEnvironment({}, { timeoutMs: 0 });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(environmentSchema.parse(env)).toEqual(env);
    expect(env.cpu.manufacturer).toBe('unknown');
    expect(env.cpu.cores).toBe(os.cpus().length);
    expect(env.memory.totalBytes).toBe(os.totalmem());
    expect(env.gpus).toEqual([]);
    expect(env.os).toEqual({ platform: os.platform(), distro: os.type(), release: os.release(), kernel: os.release(), arch: os.arch() });
    expect(env.hostname).toBe(os.hostname());
    expect(env.versions.node).toBe(process.version);
  });
});

describe('peakRssBytes', () => {
  it('is at least the current RSS, in bytes', () => {
    const rss = process.memoryUsage().rss;
    const peak = peakRssBytes();
    expect(peak).toBeGreaterThanOrEqual(rss * 0.99);
    // KiB mistaken for bytes would be ~1000x off: a Node process is well under 64 GiB.
    expect(peak).toBeLessThan(64 * 1024 ** 3);
  });
});

describe('describeMachine', () => {
  const machine = (cpu: Partial<Environment['cpu']>, gib: number, gpus: string[]): Environment => ({
    cpu: { brand: 'EPYC 7B13', manufacturer: 'AMD', cores: 32, physicalCores: 16, speedGHz: 2.45, ...cpu },
    memory: { totalBytes: gib * 1024 ** 3 },
    gpus: gpus.map((model) => ({ model, vendor: 'NVIDIA', vramMB: null })),
    os: { platform: 'linux', distro: 'Ubuntu', release: '22.04', kernel: '5.15', arch: 'x64' },
    hostname: 'h',
    versions: {},
  });

  it('says CPU, cores, memory and GPUs by model in one line', () => {
    expect(describeMachine(machine({}, 360, ['Tesla V100-SXM2-32GB', 'Tesla V100-SXM2-32GB', 'Tesla V100-SXM2-32GB', 'Tesla V100-SXM2-32GB']))).toBe(
      'AMD EPYC 7B13, 32 cores, 360.0 GiB, 4× Tesla V100-SXM2-32GB',
    );
    // 23.54 GiB: 25,275,990,016 bytes, as a 2-core VM reported it.
    expect(describeMachine({ ...machine({ brand: 'EPYC', cores: 2 }, 0, []), memory: { totalBytes: 25275990016 } })).toBe('AMD EPYC, 2 cores, 23.5 GiB, no GPU');
    expect(describeMachine(machine({ brand: 'A', cores: 4 }, 16, ['A100', 'T4', 'A100']))).toBe('AMD A, 4 cores, 16.0 GiB, 2× A100, 1× T4');
  });

  it('names the maker once: not again when the brand has it, not at all when it is unknown', () => {
    expect(describeMachine(machine({ manufacturer: 'Intel', brand: 'Intel(R) Xeon(R) Gold 6230' }, 64, []))).toBe('Intel(R) Xeon(R) Gold 6230, 32 cores, 64.0 GiB, no GPU');
    expect(describeMachine(machine({ manufacturer: 'unknown', brand: 'AMD EPYC 7B13 64-Core Processor' }, 64, []))).toBe('AMD EPYC 7B13 64-Core Processor, 32 cores, 64.0 GiB, no GPU');
  });
});
