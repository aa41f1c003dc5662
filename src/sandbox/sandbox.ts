/**
 * Runs one command under bubblewrap with the limits of `limits.ts`, and says how it ended. The outer side
 * keeps the wall clock and two watchdogs (the sandbox uid's task count, the work dir's size); on a timeout or
 * a disk overrun it kills bwrap, whose --die-with-parent init takes the whole pid namespace with it, and then
 * makes sure no process of the sandbox uid is left.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { existsSync, readFileSync } from 'node:fs';
import { chown, lstat, readdir } from 'node:fs/promises';
import { constants } from 'node:os';
import path from 'node:path';
import { OptibenchError } from '../core/errors.js';
import { allHidden, bwrapArgs, type MountPlan } from './bwrap-args.js';
import { diskUsage } from './disk-usage.js';
import { killAllOf, peakCpuSecondsOf, pickSandboxUid, tasksOf } from './host-processes.js';
import type { SandboxLimits } from './limits.js';
import type { ProgramOutcome, ProgramRequest, ProgramRunner, RunningProgram, Violation } from '../core/program.js';
import { classifyExit } from './violation.js';
import { sandboxFilter } from './seccomp.js';
import { pinnedCpus } from './cpus.js';

export const BWRAP = '/usr/bin/bwrap';
export const TASKSET = '/usr/bin/taskset';
const TAIL_BYTES = 64 * 1024;
const PROCESS_SAMPLE_MS = 100;
const DISK_SAMPLE_MS = 500;
/** The descriptor the seccomp filter reaches bwrap on. */
const SECCOMP_FD = 3;

export interface SandboxRequest {
  readonly command: readonly string[];
  readonly mounts: MountPlan;
  /** Working directory inside; defaults to the work dir. */
  readonly cwd?: string;
  /** The command's whole environment: nothing of optibench's own environment leaks in. */
  readonly env: Readonly<Record<string, string>>;
  readonly limits: SandboxLimits;
  /** Called with each chunk the command writes (for a log file); optional. */
  readonly onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** Stops the command when it fires, as `stop` does. */
  readonly signal?: AbortSignal;
}

export interface SandboxResult extends ProgramOutcome {
  /** The unprivileged uid the command ran as. */
  readonly uid: number;
}

class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > TAIL_BYTES && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).subarray(-TAIL_BYTES).toString('utf8');
  }
}

/** The sandbox uid must own the work dir to write in it; root outside can still read and remove it. */
async function chownTree(dir: string, uid: number): Promise<void> {
  await chown(dir, uid, uid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, uid);
    else if (!(await lstat(full)).isSymbolicLink()) await chown(full, uid, uid);
  }
}

export async function runSandboxed(request: SandboxRequest): Promise<SandboxResult> {
  const running = await startSandboxed(request, false);
  running.stdin.end();
  return running.outcome;
}

/**
 * Starts the command in the sandbox. With `talk`, its stdin and stdout are the caller's (a protocol runs over
 * them); otherwise stdin is empty and stdout is kept as a tail like stderr.
 */
export async function startSandboxed(request: SandboxRequest, talk: boolean): Promise<RunningProgram<SandboxResult>> {
  if (process.getuid?.() !== 0) {
    throw new OptibenchError('the sandbox needs root: it switches the submission to an unprivileged uid and sets limits bwrap cannot set unprivileged');
  }
  const uid = pickSandboxUid();
  await chownTree(request.mounts.workDir, uid);
  const pinned = request.limits.cpus !== undefined;
  const filter = sandboxFilter({ pinned });
  if (pinned && !filter) {
    throw new OptibenchError(`cannot pin a sandbox to ${request.limits.cpus} CPU(s) on ${process.arch}: optibench does not know this architecture's sched_setaffinity number, so a process inside could widen its affinity`);
  }
  const args = bwrapArgs({ uid, cwd: request.cwd ?? request.mounts.workDir, command: request.command, limits: request.limits, mounts: request.mounts, ...(filter ? { seccompFd: SECCOMP_FD } : {}) });
  const started = Date.now();
  const oomKillsBefore = oomKills();
  // taskset execs bwrap with the affinity set; the filter bwrap then loads keeps every process inside on it.
  const [program, programArgs] = pinned ? [TASKSET, ['--cpu-list', pinnedCpus(request.limits.cpus!), BWRAP, ...args]] : [BWRAP, args];
  const child = spawn(program, programArgs, { env: { ...request.env }, stdio: ['pipe', 'pipe', 'pipe', filter ? 'pipe' : 'ignore'] }) as ChildProcessByStdio<Writable, Readable, Readable>;
  if (filter) {
    // bwrap reads it before starting the command; 80 bytes fit in the pipe whether or not it reads yet.
    const seccomp = child.stdio[SECCOMP_FD] as NodeJS.WritableStream;
    seccomp.on('error', () => {});
    seccomp.end(filter);
  }
  // A program that exits without reading its input must not take the caller down with EPIPE.
  child.stdin.on('error', () => {});
  const stdout = new Tail();
  const stderr = new Tail();
  if (!talk) {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      request.onOutput?.('stdout', chunk);
    });
  }
  child.stderr.on('data', (chunk: Buffer) => {
    stderr.push(chunk);
    request.onOutput?.('stderr', chunk);
  });

  let stoppedFor: 'timeout' | 'disk' | 'caller' | null = null;
  let callerReason = '';
  const stop = (why: 'timeout' | 'disk' | 'caller') => {
    if (stoppedFor) return;
    stoppedFor = why;
    child.kill('SIGKILL');
  };
  let peakTasks = 0;
  const wallTimer = setTimeout(() => stop('timeout'), request.limits.wallSeconds * 1000);
  let peakCpuSeconds = 0;
  const processTimer = setInterval(() => {
    peakTasks = Math.max(peakTasks, tasksOf(uid));
    peakCpuSeconds = Math.max(peakCpuSeconds, peakCpuSecondsOf(uid));
  }, PROCESS_SAMPLE_MS);
  let diskBusy = false;
  const diskTimer = setInterval(() => {
    if (diskBusy) return;
    diskBusy = true;
    diskUsage(request.mounts.workDir)
      .then((bytes) => {
        if (bytes > request.limits.diskBytes) stop('disk');
      })
      .finally(() => {
        diskBusy = false;
      });
  }, DISK_SAMPLE_MS);

  const outcome = (async (): Promise<SandboxResult> => {
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.on('error', (error) => reject(new OptibenchError(`cannot start bubblewrap: ${error.message}`, { file: program })));
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 0) : null)));
    }).finally(() => {
      clearTimeout(wallTimer);
      clearInterval(processTimer);
      clearInterval(diskTimer);
    });
    const cleanedUp = await killAllOf(uid);
    const wallSeconds = (Date.now() - started) / 1000;
    const stderrTail = stderr.text();
    const violation: Violation | null =
      stoppedFor === 'caller'
        ? { kind: 'stopped', message: callerReason }
        : classifyExit({ exitCode, stoppedFor, wallSeconds, peakTasks, peakCpuSeconds, stderrTail, limits: request.limits, hiddenPaths: allHidden(request.mounts), oomKills: oomKills() - oomKillsBefore });
    return { ok: violation === null, exitCode, violation, wallSeconds, peakTasks, uid, stdoutTail: talk ? '' : stdout.text(), stderrTail, cleanedUp };
  })();
  const stopFor = (reason: string) => {
    if (stoppedFor) return;
    callerReason = reason;
    stop('caller');
  };
  const onAbort = () => stopFor('interrupted');
  if (request.signal?.aborted) onAbort();
  request.signal?.addEventListener('abort', onAbort, { once: true });
  void outcome.finally(() => request.signal?.removeEventListener('abort', onAbort));
  return { stdin: child.stdin, stdout: child.stdout, outcome, stop: stopFor };
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return constants.signals[signal];
}

/** The host's count of processes killed by the out-of-memory killer (0 where the kernel does not say). */
export function oomKills(): number {
  try {
    return Number(/^oom_kill (\d+)$/m.exec(readFileSync('/proc/vmstat', 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Whether this machine can run untrusted programs: bubblewrap is installed and optibench runs as root. */
export function canSandbox(): boolean {
  return process.getuid?.() === 0 && existsSync(BWRAP);
}

function sandboxRequest(request: ProgramRequest): SandboxRequest {
  return {
    command: request.command,
    mounts: { workDir: request.workDir, readOnly: request.inputs, hidden: request.hidden, ...(request.devices ? { devices: request.devices } : {}) },
    ...(request.cwd === undefined ? {} : { cwd: request.cwd }),
    env: request.env,
    limits: request.limits,
    ...(request.onOutput ? { onOutput: request.onOutput } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  };
}

/** `core/program.ts` implemented by bubblewrap: what re-runs, compression solutions and training miners call. */
export const bubblewrap: ProgramRunner<SandboxResult> = {
  name: 'bubblewrap',
  run: (request: ProgramRequest): Promise<SandboxResult> => runSandboxed(sandboxRequest(request)),
  start: (request: ProgramRequest): Promise<RunningProgram<SandboxResult>> => startSandboxed(sandboxRequest(request), true),
};
