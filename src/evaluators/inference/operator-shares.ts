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
