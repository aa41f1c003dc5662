/**
 * Why a sandboxed command did not finish cleanly, in words an organizer and a team both understand. Limits
 * the outer process enforces itself (wall time, disk watchdog) and signals the kernel sends for rlimits are
 * certain; a failed allocation or a refused connection only shows in what the command printed, so those are
 * recognised from its last stderr lines and quote the line that shows it.
 */
import { constants } from 'node:os';

import type { Violation } from '../core/program.js';

export type { Violation, ViolationKind } from '../core/program.js';

export interface ExitFacts {
  /** bwrap's exit status: the command's, or 128 + the signal that killed it. */
  readonly exitCode: number | null;
  /** Set when the outer process stopped the sandbox, and why. */
  readonly stoppedFor: 'timeout' | 'disk' | null;
  readonly wallSeconds: number;
  readonly peakTasks: number;
  readonly stderrTail: string;
  readonly limits: { readonly wallSeconds: number; readonly processes: number; readonly diskBytes: number; readonly fileBytes: number; readonly cpuSeconds: number; readonly memoryBytes: number };
  /** Host paths the command must not read; a message naming one shows it tried. */
  readonly hiddenPaths: readonly string[];
  /** The most CPU seconds one of its processes was seen to have used (sampled, so a little late). */
  readonly peakCpuSeconds?: number;
  /** Processes the kernel's out-of-memory killer killed on the host while the command ran (/proc/vmstat). */
  readonly oomKills?: number;
}

/** The CPU time sampler runs every 100 ms: a process killed at its limit was last seen up to that much short of it. */
const CPU_SAMPLE_SLACK_SECONDS = 0.5;

const MEMORY_PATTERNS = [/MemoryError/, /Cannot allocate memory/i, /out of memory/i, /std::bad_alloc/, /ENOMEM/, /allocation failed/i];
const NETWORK_PATTERNS = [/ENETUNREACH/, /Network is unreachable/i, /EAI_AGAIN/, /Temporary failure in name resolution/i, /getaddrinfo/i, /ECONNREFUSED/];

function signalName(code: number): string | undefined {
  if (code <= 128) return undefined;
  const number = code - 128;
  return Object.entries(constants.signals).find(([, n]) => n === number)?.[0];
}

function firstLineMatching(text: string, patterns: readonly RegExp[]): string | undefined {
  return text.split('\n').find((line) => patterns.some((p) => p.test(line)))?.trim();
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}

/** The command's last non-empty stderr line, quoted, so a plain failure says what the command said. */
function lastLine(stderr: string): string {
  const line = stderr.split('\n').map((l) => l.trim()).filter(Boolean).at(-1);
  if (!line) return '';
  return `: "${line.length > 300 ? `${line.slice(0, 300)}…` : line}"`;
}

/** Null when the command exited 0 within every limit. */
export function classifyExit(facts: ExitFacts): Violation | null {
  const { limits } = facts;
  if (facts.stoppedFor === 'disk') {
    return { kind: 'disk', message: `disk limit: the work dir grew beyond ${mib(limits.diskBytes)}; the sandbox was killed` };
  }
  // A fork bomb usually also runs into the wall clock; the process limit is the cause worth naming.
  if (facts.peakTasks >= limits.processes) {
    const stopped = facts.stoppedFor === 'timeout' ? `, then stopped at the ${limits.wallSeconds} s wall-time limit` : '';
    return { kind: 'processes', message: `too many processes: reached the limit of ${limits.processes} processes and threads${stopped}` };
  }
  if (facts.stoppedFor === 'timeout') {
    return { kind: 'timeout', message: `timeout: still running after the ${limits.wallSeconds} s wall-time limit; every process in the sandbox was killed` };
  }
  if (facts.exitCode === 0) return null;
  const signal = facts.exitCode === null ? undefined : signalName(facts.exitCode);
  if (signal === 'SIGXFSZ') return { kind: 'disk', message: `disk limit: a file reached the ${mib(Math.min(limits.fileBytes, limits.diskBytes))} file-size limit (killed by SIGXFSZ)` };
  if (signal === 'SIGXCPU') return { kind: 'cpu', message: `CPU limit: a process used its ${limits.cpuSeconds} s of CPU time (killed by SIGXCPU)` };
  const hidden = facts.hiddenPaths.find((p) => facts.stderrTail.includes(p));
  if (hidden) return { kind: 'labels', message: `denied: tried to read ${hidden}, which is not visible in the sandbox` };
  const memory = firstLineMatching(facts.stderrTail, MEMORY_PATTERNS);
  if (memory) return { kind: 'memory', message: `out of memory: an allocation beyond the ${mib(limits.memoryBytes)} limit failed ("${memory}")` };
  const network = firstLineMatching(facts.stderrTail, NETWORK_PATTERNS);
  if (network) return { kind: 'network', message: `denied network: the sandbox has no network ("${network}")` };
  const last = lastLine(facts.stderrTail);
  if (signal === 'SIGKILL') {
    // RLIMIT_CPU's hard limit sends SIGKILL to a process that went on after SIGXCPU.
    if ((facts.peakCpuSeconds ?? 0) >= limits.cpuSeconds - CPU_SAMPLE_SLACK_SECONDS) {
      return { kind: 'cpu', message: `CPU limit: a process used its ${limits.cpuSeconds} s of CPU time, went on after SIGXCPU, and was killed at the hard limit (SIGKILL)` };
    }
    // Nothing else of the sandbox sends SIGKILL but its own stops, named above: this one came from outside.
    if ((facts.oomKills ?? 0) > 0) {
      return { kind: 'memory', message: `out of memory: the kernel's out-of-memory killer killed it (the machine ran out of memory while it ran)${last}` };
    }
    return { kind: 'crash', message: `killed by SIGKILL from outside the sandbox's limits (none of them stopped it; the kernel's out-of-memory killer did not act)${last}` };
  }
  if (signal) return { kind: 'crash', message: `killed by ${signal}${last}` };
  return { kind: 'exit', message: `exited with code ${facts.exitCode ?? 'unknown'}${last}` };
}
