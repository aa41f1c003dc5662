/**
 * `--profile-ops`: ONNX Runtime's trace summed per (scope, operator), checked against sums worked out by hand
 * on a small trace; the trace file read as untrusted input (links, FIFOs, huge files, junk events); and the
 * runner's second, profiled session on the embedded model, counting its model executions independently (one
 * per batch pairwise, two per batch with the key/value cache).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_TRACE_BYTES, matmulFlops, readTrace, scopeOf, summariseTrace } from '../../src/backends/onnx/operator-profile.js';
import { configSchema } from '../../src/evaluators/inference/config.js';
import { operatorProfileSchema } from '../../src/evaluators/inference/results.js';
import { profileOperators, spreadSample } from '../../src/evaluators/inference/profile-operators.js';
import { runEvaluation } from '../../src/evaluators/inference/runner.js';
import { renderRunReport } from '../../src/evaluators/inference/report/render-run.js';
import { floatMatmulRate, sharesByOperator, sharesByScope } from '../../src/evaluators/inference/operator-shares.js';
import { PyTorchBackend } from '../../src/backends/pytorch/backend.js';

const run = (ts: number, dur: number) => ({ cat: 'Session', name: 'model_run', ts, dur, ph: 'X', args: {} });
const kernel = (node: string, op: string, ts: number, dur: number, shapes?: [number[], number[]]) => ({
  cat: 'Node',
  name: `${node}_kernel_time`,
  ts,
  dur,
  ph: 'X',
  args: { op_name: op, ...(shapes ? { input_type_shape: [{ float: shapes[0] }], output_type_shape: [{ float: shapes[1] }] } : {}) },
});

/** Two runs: the warm-up (0-100 us) and one measured (200-320 us). */
const TRACE = [
  { cat: 'Session', name: 'session_initialization', ts: 0, dur: 50, args: {} },
  run(0, 100),
  kernel('layers.0/attn/MatMul', 'MatMul', 10, 40),
  run(200, 120),
  // 2 x (2 x 3 x 5 outputs) x K = 4: 240 FLOPs each.
  kernel('layers.0/attn/MatMul', 'MatMul', 210, 30, [[2, 3, 4], [2, 3, 5]]),
  kernel('layers.1/attn/MatMul_2', 'MatMul', 245, 20, [[2, 3, 4], [2, 3, 5]]),
  kernel('layers.1/mlp/MatMul', 'MatMul', 270, 25),
  kernel('head/GatherND', 'GatherND', 300, 10),
  kernel('layers.1/Add', 'Add', 312, 4),
  kernel('Transpose_token_4', 'Transpose', 317, 2),
  // What is not a kernel event of a measured run is left out.
  { cat: 'Node', name: 'layers.1/mlp/MatMul_fence_before', ts: 269, dur: 0, args: { op_name: 'MatMul' } },
  { cat: 'Node', name: 'odd_kernel_time', ts: 290, dur: 'NaN', args: { op_name: 'MatMul' } },
  { cat: 'Node', name: 'odd2_kernel_time', ts: 290, dur: -5, args: { op_name: 'MatMul' } },
  { cat: 'Node', name: 'odd3_kernel_time', ts: 290, dur: 5, args: {} },
  'not an event',
  null,
];

describe('ONNX Runtime trace summed per scope and operator', () => {
  it('skips the warm-up run and sums the measured kernels by hand-computed totals', () => {
    const p = summariseTrace(TRACE, 1);
    expect(p.runs).toBe(1);
    expect(p.runMs).toBeCloseTo(0.12, 12);
    // 30 + 20 + 25 + 10 + 4 + 2 us
    expect(p.kernelMs).toBeCloseTo(0.091, 12);
    expect(p.kernels).toEqual([
      { scope: 'attn', operator: 'MatMul', calls: 2, ms: 0.05, flops: 480 },
      // Its shapes were not recorded: no FLOP count rather than a wrong one.
      { scope: 'mlp', operator: 'MatMul', calls: 1, ms: 0.025 },
      { scope: 'head', operator: 'GatherND', calls: 1, ms: 0.01 },
      { scope: '(layer)', operator: 'Add', calls: 1, ms: 0.004 },
      { scope: '(graph)', operator: 'Transpose', calls: 1, ms: 0.002 },
    ]);
    const byOperator = sharesByOperator(p.kernels);
    expect(byOperator.map((s) => [s.name, s.calls])).toEqual([['MatMul', 3], ['GatherND', 1], ['Add', 1], ['Transpose', 1]]);
    expect(byOperator[0]!.share).toBeCloseTo(75 / 91, 12);
    expect(sharesByScope(p.kernels).map((s) => s.name)).toEqual(['attn', 'mlp', 'head', '(layer)', '(graph)']);
  });

  it('the float matrix products\' rate: their FLOPs over their time, or nothing when one lacks a count', () => {
    const p = summariseTrace(TRACE, 1);
    expect(floatMatmulRate(p.kernels)).toBeNull();
    const counted = p.kernels.filter((k) => k.scope !== 'mlp');
    // 480 FLOPs in 50 us: 9.6 MFLOP/s = 0.0096 GFLOP/s, 50 of the 66 us left.
    expect(floatMatmulRate(counted)!.gflops).toBeCloseTo(0.0096, 12);
    expect(floatMatmulRate(counted)!.share).toBeCloseTo(50 / 66, 12);
    expect(matmulFlops({ input_type_shape: [{ float: [1e200] }], output_type_shape: [{ float: [1e200, 1e200] }] })).toBeNull();
  });

  it('with nothing skipped, the warm-up run counts too', () => {
    const p = summariseTrace(TRACE, 0);
    expect(p.runs).toBe(2);
    // The warm-up kernel has no shapes: the entry's FLOPs are unknown.
    expect(p.kernels.find((k) => k.scope === 'attn')).toEqual({ scope: 'attn', operator: 'MatMul', calls: 3, ms: 0.09 });
  });

  it('names scopes from node names, the layer number dropped', () => {
    expect(scopeOf('layers.12/attn/MultiHeadAttention')).toBe('attn');
    expect(scopeOf('layers.0/mlp/MatMul_1/MatMulScaleFusion/')).toBe('mlp');
    expect(scopeOf('head/LogSoftmax')).toBe('head');
    expect(scopeOf('layers.3/Add_1')).toBe('(layer)');
    expect(scopeOf('Gather')).toBe('(graph)');
    expect(scopeOf('/odd')).toBe('(graph)');
  });

  it('refuses what is not a trace, and a trace with no run beyond the warm-up', () => {
    expect(() => summariseTrace({ events: [] }, 0)).toThrow(/not a trace/);
    expect(() => summariseTrace(TRACE, 2)).toThrow(/2 model executions, not more than the 2 warm-up/);
  });
});

describe('the trace file, read as untrusted input', () => {
  const fresh = () => mkdtemp(path.join(os.tmpdir(), 'optibench-trace-'));

  it('reads the one trace in the directory', async () => {
    const dir = await fresh();
    await writeFile(path.join(dir, 'onnxruntime-profile_2026.json'), JSON.stringify(TRACE));
    expect((await readTrace(dir, 1)).kernelMs).toBeCloseTo(0.091, 12);
  });

  it('refuses a link, a FIFO (without hanging), a huge file, junk and two traces', async () => {
    const link = await fresh();
    const target = path.join(await fresh(), 'elsewhere.json');
    await writeFile(target, JSON.stringify(TRACE));
    await symlink(target, path.join(link, 'p.json'));
    await expect(readTrace(link, 1)).rejects.toThrow(/symbolic link/);

    const fifo = await fresh();
    execFileSync('mkfifo', [path.join(fifo, 'p.json')]);
    await expect(readTrace(fifo, 1)).rejects.toThrow(/not a regular file/);

    const huge = await fresh();
    await writeFile(path.join(huge, 'p.json'), '');
    await truncate(path.join(huge, 'p.json'), MAX_TRACE_BYTES + 1);
    await expect(readTrace(huge, 1)).rejects.toThrow(/more than the/);

    const junk = await fresh();
    await writeFile(path.join(junk, 'p.json'), '[{"cat": "Session", ');
    await expect(readTrace(junk, 1)).rejects.toThrow(/not JSON/);

    const two = await fresh();
    await writeFile(path.join(two, 'a.json'), '[]');
    await writeFile(path.join(two, 'b.json'), '[]');
    await expect(readTrace(two, 0)).rejects.toThrow(/found 2/);
  });

  it('the results schema refuses a profile with impossible numbers or oversized names', () => {
    const ok = { batches: 1, warmupBatches: 1, runs: 1, runMs: 1, kernelMs: 1, kernels: [{ scope: 'a', operator: 'MatMul', calls: 1, ms: 1 }] };
    expect(operatorProfileSchema.safeParse(ok).success).toBe(true);
    expect(operatorProfileSchema.safeParse({ ...ok, runMs: Number.NaN }).success).toBe(false);
    expect(operatorProfileSchema.safeParse({ ...ok, kernelMs: -1 }).success).toBe(false);
    expect(operatorProfileSchema.safeParse({ ...ok, kernels: [{ ...ok.kernels[0], operator: 'x'.repeat(201) }] }).success).toBe(false);
    expect(operatorProfileSchema.safeParse({ ...ok, kernels: Array.from({ length: 10_001 }, () => ok.kernels[0]) }).success).toBe(false);
  });
});

describe('profiled batches spread along the pass', () => {
  it('takes evenly spaced batches, or all of them', () => {
    expect(spreadSample([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4)).toEqual([1, 3, 6, 8]);
    expect(spreadSample([0, 1, 2], 5)).toEqual([0, 1, 2]);
    expect(spreadSample([0, 1, 2, 3], 1)).toEqual([2]);
  });

  it('refuses a count out of range, and a backend without a profiler, before loading anything', async () => {
    const load = { modelDir: '/nonexistent', build: { dtype: 'fp32' as const, extra: {} }, session: { executionProvider: 'cpu' as const, intraOpThreads: 1, interOpThreads: 1, extra: {} }, cacheDir: '/nonexistent' };
    await expect(profileOperators({ createBackend: () => new PyTorchBackend(), load, batches: [], warmupBatches: 1, count: 0 })).rejects.toThrow(/from 1 to 256/);
    await expect(profileOperators({ createBackend: () => new PyTorchBackend(), load, batches: [], warmupBatches: 1, count: 4 })).rejects.toThrow(/no per-operator profiler/);
  });
});

describe('the runner profiles in a second session after the measured passes', () => {
  const runWith = async (plugins: unknown[], profileOperators: number) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-profile-run-'));
    const config = configSchema.parse({ cacheDir: path.join(dir, 'cache'), outputDir: dir, limit: 24, batchSize: 4, plugins, backend: { intraOpThreads: 1 } });
    return runEvaluation(config, {}, undefined, { profileOperators });
  };

  it('one model execution per profiled batch pairwise, every scope of the graph, and the report section', async () => {
    const r = await runWith([], 5);
    const p = r.payload.operatorProfile!;
    expect(p).toBeDefined();
    expect(p.batches).toBe(5);
    expect(p.warmupBatches).toBe(1);
    expect(p.runs).toBe(5);
    expect(p.kernelMs).toBeGreaterThan(0);
    expect(p.kernelMs).toBeLessThanOrEqual(p.runMs);
    const operators = new Set(p.kernels.map((k) => k.operator));
    for (const op of ['MatMul', 'Softmax', 'LogSoftmax', 'GatherND', 'ArgMax']) expect(operators).toContain(op);
    expect(new Set(p.kernels.map((k) => k.scope))).toEqual(new Set(['attn', 'mlp', 'rms_norm', 'head', 'mask', '(layer)', '(graph)']));
    expect(r.status).toBe('complete');
    expect(r.payload.throughput.batches).toBe(24 * 4 / 4);
    const html = renderRunReport(r);
    expect(html).toContain('id="operators"');
    expect(html).toContain('id="chart-operators"');
  });

  it('the weight matmuls\' FLOPs match the model config times the padded tokens, profiling every batch', async () => {
    const r = await runWith([], 24);
    const p = r.payload.operatorProfile!;
    expect(p.batches).toBe(r.payload.throughput.batches);
    const c = r.payload.model.config as { hidden_size: number; intermediate_size: number; num_hidden_layers: number; vocab_size: number };
    const tokens = r.payload.throughput.paddedTokens;
    const flopsOf = (scope: string) => p.kernels.filter((k) => k.scope === scope && k.operator === 'MatMul').reduce((sum, k) => sum + k.flops!, 0);
    // gate, up and down: three hidden x intermediate products per token and layer; the head: hidden x vocabulary.
    expect(flopsOf('mlp')).toBe(tokens * 2 * c.hidden_size * c.intermediate_size * 3 * c.num_hidden_layers);
    expect(flopsOf('head')).toBe(tokens * 2 * c.hidden_size * c.vocab_size);
  });

  it('two model executions per batch with the key/value cache: the warm-up ones left out by the probe count', async () => {
    const r = await runWith([{ name: 'prefix-sharing', options: { method: 'kv-cache' } }], 3);
    expect(r.payload.operatorProfile!.runs).toBe(6);
    expect(r.payload.operatorProfile!.batches).toBe(3);
  });

  it('a hostile scope or operator name in a results file is shown as text in the report', async () => {
    const r = await runWith([], 1);
    const hostile = '<script>alert(1)</script>';
    const html = renderRunReport({ ...r, payload: { ...r.payload, operatorProfile: { ...r.payload.operatorProfile!, kernels: [{ scope: hostile, operator: hostile, calls: 1, ms: 1 }] } } });
    expect(html).not.toContain(hostile);
    expect(html).toContain('&lt;script&gt;');
  });

  it('a PyTorch run asking for a profile is refused before the model loads', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-profile-pt-'));
    const config = configSchema.parse({ cacheDir: path.join(dir, 'cache'), outputDir: dir, limit: 4, backend: { name: 'pytorch' } });
    await expect(runEvaluation(config, {}, undefined, { profileOperators: 2 })).rejects.toThrow(/pytorch backend has none/);
    expect(await readFile(path.join(dir, 'results.json'), 'utf8').catch(() => 'none')).toBe('none');
  });
});
