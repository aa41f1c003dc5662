/** An operator profile seen two ways, for the summary and the report: time per operator, and per graph scope. */
import type { OperatorTime } from '../../core/backend.js';

export interface Share {
  readonly name: string;
  readonly ms: number;
  /** Of the profile's summed kernel time. */
  readonly share: number;
  readonly calls: number;
}

/** Kernel time summed by `key`, largest first (ties by name, so the order is stable). */
function sharesBy(kernels: readonly OperatorTime[], key: (k: OperatorTime) => string): Share[] {
  const sums = new Map<string, { ms: number; calls: number }>();
  for (const k of kernels) {
    const entry = sums.get(key(k)) ?? { ms: 0, calls: 0 };
    entry.ms += k.ms;
    entry.calls += k.calls;
    sums.set(key(k), entry);
  }
  const total = [...sums.values()].reduce((sum, e) => sum + e.ms, 0);
  return [...sums.entries()]
    .map(([name, e]) => ({ name, ms: e.ms, share: total > 0 ? e.ms / total : 0, calls: e.calls }))
    .sort((a, b) => b.ms - a.ms || a.name.localeCompare(b.name));
}

export const sharesByOperator = (kernels: readonly OperatorTime[]): Share[] => sharesBy(kernels, (k) => k.operator);
export const sharesByScope = (kernels: readonly OperatorTime[]): Share[] => sharesBy(kernels, (k) => k.scope);

/** The float matrix products (not the integer ones: their operations are not float32 FLOPs). */
const FLOAT_MATMULS: ReadonlySet<string> = new Set(['MatMul', 'FusedMatMul', 'Gemm']);

/**
 * The float matrix products' rate: their summed FLOPs over their summed kernel time, and their share of the
 * kernel time. Null when there are none, or when one of them has no FLOP count (its shapes were not recorded).
 */
export function floatMatmulRate(kernels: readonly OperatorTime[]): { gflops: number; share: number } | null {
  const matmuls = kernels.filter((k) => FLOAT_MATMULS.has(k.operator));
  if (matmuls.length === 0 || matmuls.some((k) => k.flops === undefined)) return null;
  const ms = matmuls.reduce((sum, k) => sum + k.ms, 0);
  const total = kernels.reduce((sum, k) => sum + k.ms, 0);
  const flops = matmuls.reduce((sum, k) => sum + k.flops!, 0);
  return ms > 0 && total > 0 ? { gflops: flops / (ms * 1e6), share: ms / total } : null;
}
