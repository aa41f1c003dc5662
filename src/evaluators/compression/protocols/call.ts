/**
 * What both protocols share: one call (a compression or a decompression) in a sandbox of its own through the
 * `ProgramRunner`, with a fresh work dir (the only writable path, removed after the call), a fresh /tmp (the
 * sandbox's tmpfs), the solution folder read-only, nothing of the host's network, and the limits of the config.
 *
 * "1 CPU": the sandbox pins the call to `cpus` CPUs and refuses sched_setaffinity inside (src/sandbox/cpus.ts),
 * so no process of the solution runs on more; RLIMIT_CPU (cpus x wall seconds per process) bounds the rest.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ProgramLimits, ProgramRequest, ProgramRunner } from '../../../core/program.js';
import type { CallLimits } from '../config.js';
import type { Bf16Tensor } from '../npy.js';
import type { Solution } from '../solution.js';

export type Phase = 'compress' | 'decompress';

/** One call's end: the bytes it produced, or why it scores 0, and its time as measured outside. */
export interface CallResult<T> {
  readonly value: T | null;
  /** Why the call failed (timeout, crash, limit, refused output), or null. */
  readonly failure: string | null;
  /** The call's scored time (see each protocol for what it spans). */
  readonly seconds: number;
  /** http: from starting the sandbox to the server's first 200 on /health (not scored, reported). */
  readonly serverStartSeconds: number | null;
  /** The end of the solution's stderr, for the report. */
  readonly stderrTail: string;
}

export interface CallContext {
  readonly solution: Solution;
  readonly limits: CallLimits;
  /** Folder the call's work dir is made in (never mounted itself). */
  readonly scratch: string;
  readonly run: ProgramRunner;
  /** A Ctrl-C'd round: the running call is stopped at once. */
  readonly signal?: AbortSignal;
}

export interface ProtocolRunner {
  compress(tensor: Bf16Tensor, originalBytes: number, context: CallContext): Promise<CallResult<Buffer>>;
  decompress(compressed: Buffer, shape: readonly number[], context: CallContext): Promise<CallResult<Bf16Tensor>>;
}

/** What a solution may write per file: 4x the original plus 1 MiB (a compressor that expands that much is broken). */
export function outputCap(originalBytes: number): number {
  return 4 * originalBytes + 1024 * 1024;
}

export function programLimits(limits: CallLimits, fileBytes: number): ProgramLimits {
  return {
    wallSeconds: limits.wallSeconds,
    cpuSeconds: Math.max(1, Math.ceil(limits.wallSeconds * limits.cpus)),
    memoryBytes: limits.memoryBytes,
    processes: limits.processes,
    fileBytes,
    diskBytes: Math.max(limits.diskBytes, fileBytes),
    tmpBytes: limits.tmpBytes,
    cpus: limits.cpus,
  };
}

export async function withWorkDir<T>(scratch: string, phase: Phase, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(scratch, `${phase}-`));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The sandboxed request: the solution's folder read-only and its working directory, a minimal environment. */
export function callRequest(context: CallContext, workDir: string, argv: readonly string[], fileBytes: number, extraInputs: readonly string[] = []): ProgramRequest {
  const cpus = context.limits.cpus;
  const threads = String(cpus);
  return {
    command: argv,
    workDir,
    inputs: [context.solution.root, ...extraInputs],
    hidden: [],
    cwd: context.solution.root,
    env: {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: workDir,
      LANG: 'C.UTF-8',
      TMPDIR: '/tmp',
      PYTHONDONTWRITEBYTECODE: '1',
      // Libraries that size thread pools by the machine's cores would oversubscribe the one CPU.
      OMP_NUM_THREADS: threads,
      OPENBLAS_NUM_THREADS: threads,
      MKL_NUM_THREADS: threads,
    },
    limits: programLimits(context.limits, fileBytes),
    ...(context.signal ? { signal: context.signal } : {}),
  };
}

export function failureOf(outcome: { violation: { message: string } | null; stderrTail: string }): string {
  const last = outcome.stderrTail.trim().split('\n').slice(-1)[0];
  return outcome.violation ? outcome.violation.message : `failed${last ? `: ${last}` : ''}`;
}

export function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join('\n').slice(-2000);
}
