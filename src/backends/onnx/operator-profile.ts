/**
 * ONNX Runtime's profiler trace (Chrome trace JSON: one event per model execution, one per kernel) summed into
 * an OperatorProfile. The trace is the runtime's, but it is read as untrusted input all the same: in a
 * sandboxed run it lies in a directory the submission's code could write, so its size, its type and every
 * event are checked, and what does not look like a trace event is left out rather than believed.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { OperatorProfile, OperatorTime } from '../../core/backend.js';
import { OptibenchError } from '../../core/errors.js';
import { readCappedText } from '../../core/result-file.js';

/** A profile of a few dozen batches is a few MB; anything near this is not one. */
export const MAX_TRACE_BYTES = 256 * 1024 * 1024;

const traceEvent = z.object({
  cat: z.string(),
  name: z.string(),
  ts: z.number().finite().nonnegative(),
  dur: z.number().finite().nonnegative(),
  args: z
    .object({
      op_name: z.string().optional(),
      input_type_shape: z.array(z.record(z.string(), z.array(z.number().int().nonnegative()))).optional(),
      output_type_shape: z.array(z.record(z.string(), z.array(z.number().int().nonnegative()))).optional(),
    })
    .loose()
    .optional(),
});

/** Operators whose work is a matrix product: their FLOPs are counted from the shapes the runtime recorded. */
export const MATMUL_OPERATORS: ReadonlySet<string> = new Set(['MatMul', 'FusedMatMul', 'Gemm', 'MatMulInteger', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul', 'MatMulNBits']);

type Shapes = z.infer<typeof traceEvent>['args'];

/**
 * 2 x M x N x K of one matrix-product kernel: the output's elements (every batch dimension and M x N) times the
 * first input's last dimension (K), doubled for the multiply and the add. Null when the shapes are missing.
 * (A transposed first input would have K elsewhere; the graphs optibench builds do not transpose it.)
 */
export function matmulFlops(args: Shapes): number | null {
  const first = args?.input_type_shape?.[0];
  const output = args?.output_type_shape?.[0];
  if (!first || !output) return null;
  const a = Object.values(first)[0];
  const out = Object.values(output)[0];
  if (!a || !out || a.length === 0) return null;
  const flops = 2 * out.reduce((p, d) => p * d, 1) * a[a.length - 1]!;
  return Number.isFinite(flops) ? flops : null;
}

const KERNEL_SUFFIX = '_kernel_time';

/**
 * The graph scope a node ran in, from its name (`layers.3/attn/MatMul_1` -> `attn`): optibench's graph builder
 * names nodes by scope, and ONNX Runtime keeps the name (or extends it) when it fuses nodes. Nodes without a
 * scope are the layer's own (`layers.3/Add`) or the graph's (`Gather`, or a node the runtime added).
 */
export function scopeOf(node: string): string {
  const layer = /^layers\.\d+\//.exec(node);
  const rest = layer ? node.slice(layer[0].length) : node;
  const slash = rest.indexOf('/');
  if (slash > 0) return rest.slice(0, slash);
  return layer ? '(layer)' : '(graph)';
}

/**
 * Sums a parsed trace: model executions in time order, the first `skipRuns` of them (and every kernel that
 * started before the last of those ended) left out, the rest summed per (scope, operator).
 */
export function summariseTrace(trace: unknown, skipRuns: number): OperatorProfile {
  if (!Array.isArray(trace)) throw new OptibenchError('the ONNX Runtime profile is not a trace (expected a JSON array of events)');
  const events = trace.flatMap((e) => {
    const parsed = traceEvent.safeParse(e);
    return parsed.success ? [parsed.data] : [];
  });
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  if (runs.length <= skipRuns) {
    throw new OptibenchError(`the ONNX Runtime profile holds ${runs.length} model executions, not more than the ${skipRuns} warm-up ones to leave out`);
  }
  const skipped = runs.slice(0, skipRuns);
  const kept = runs.slice(skipRuns);
  const from = skipped.reduce((end, run) => Math.max(end, run.ts + run.dur), 0);
  const byKey = new Map<string, { scope: string; operator: string; calls: number; us: number; flops: number | null }>();
  let kernelUs = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith(KERNEL_SUFFIX) || e.ts < from) continue;
    const operator = e.args?.op_name;
    if (operator === undefined || operator === '') continue;
    const scope = scopeOf(e.name.slice(0, -KERNEL_SUFFIX.length));
    const key = `${scope}\u0000${operator}`;
    const entry = byKey.get(key) ?? { scope, operator, calls: 0, us: 0, flops: MATMUL_OPERATORS.has(operator) ? 0 : null };
    entry.calls++;
    entry.us += e.dur;
    if (entry.flops !== null) {
      // One kernel without shapes and the entry's FLOPs are unknown, rather than undercounted.
      const flops = matmulFlops(e.args);
      entry.flops = flops === null ? null : entry.flops + flops;
    }
    byKey.set(key, entry);
    kernelUs += e.dur;
  }
  const kernels: OperatorTime[] = [...byKey.values()]
    .sort((a, b) => b.us - a.us || a.scope.localeCompare(b.scope) || a.operator.localeCompare(b.operator))
    .map((k) => ({ scope: k.scope, operator: k.operator, calls: k.calls, ms: k.us / 1000, ...(k.flops === null ? {} : { flops: k.flops }) }));
  return { runs: kept.length, runMs: kept.reduce((sum, run) => sum + run.dur, 0) / 1000, kernelMs: kernelUs / 1000, kernels };
}

/** The one trace ONNX Runtime wrote into `dir` (a directory made for it), checked and summed. */
export async function readTrace(dir: string, skipRuns: number): Promise<OperatorProfile> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.json'));
  if (files.length !== 1) throw new OptibenchError(`expected one ONNX Runtime profile in ${dir}, found ${files.length}`);
  const file = path.join(dir, files[0]!);
  // Not through a link, never a FIFO or a device, read through the handle that was checked.
  const text = await readCappedText(file, { maxBytes: MAX_TRACE_BYTES, what: 'ONNX Runtime profile', followLinks: false });
  let trace: unknown;
  try {
    trace = JSON.parse(text);
  } catch (error) {
    throw new OptibenchError(`the ONNX Runtime profile is not JSON: ${(error as Error).message}`, { file });
  }
  return summariseTrace(trace, skipRuns);
}
