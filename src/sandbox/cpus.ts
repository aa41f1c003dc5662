/**
 * Which CPUs a pinned sandbox runs on. The sandbox is started under `taskset` with this list, and its seccomp
 * filter refuses sched_setaffinity (see seccomp.ts), so no process inside can widen its affinity again: the
 * CPU count is a hard limit without cgroups.
 */
import { readFileSync } from 'node:fs';

/** "0-3,8" as [0, 1, 2, 3, 8]. */
export function parseCpuList(list: string): number[] {
  return list
    .trim()
    .split(',')
    .filter(Boolean)
    .flatMap((part) => {
      const [a, b] = part.split('-').map(Number) as [number, number | undefined];
      return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
    });
}

/** The CPUs optibench itself may run on (a container may not offer CPU 0); null where /proc does not say. */
export function allowedCpus(status: string | null = readStatus()): number[] | null {
  const list = status === null ? undefined : /^Cpus_allowed_list:\s*(\S+)$/m.exec(status)?.[1];
  const cpus = list === undefined ? [] : parseCpuList(list);
  return cpus.length ? cpus : null;
}

function readStatus(): string | null {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return null;
  }
}

/** The first `count` of the CPUs optibench may use, as taskset's list (more than there are: all of them). */
export function pinnedCpus(count: number, allowed: readonly number[] | null = allowedCpus()): string {
  const chosen = allowed ? allowed.slice(0, count) : Array.from({ length: count }, (_, i) => i);
  return chosen.join(',');
}
