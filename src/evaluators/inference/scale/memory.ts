/** This process's resident memory: now and at its peak (Linux /proc; the peak from getrusage elsewhere). */
import { readFileSync } from 'node:fs';

function statusKiB(field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function residentBytes(): number {
  return (statusKiB('VmRSS') ?? process.memoryUsage().rss / 1024) * 1024;
}

export function peakResidentBytes(): number {
  return (statusKiB('VmHWM') ?? process.resourceUsage().maxRSS) * 1024;
}
