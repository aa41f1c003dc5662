/**
 * What a sandboxed command may use, and the defaults for an organizer's re-run. Each limit says which
 * mechanism enforces it (see src/sandbox/README section in the project README): rlimits set by prlimit on
 * an unprivileged uid, a size-limited tmpfs, a disk watchdog, and the wall clock of the outer process.
 */
import { z } from 'zod';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export const sandboxLimitsSchema = z.strictObject({
  /** Wall time of the whole process tree; on expiry every process in the sandbox is killed. */
  wallSeconds: z.number().positive(),
  /** CPU seconds each process may use (RLIMIT_CPU: SIGXCPU, then SIGKILL 2 s of CPU later). */
  cpuSeconds: z.number().int().positive(),
  /**
   * Data memory of each process (RLIMIT_DATA: heap and private writable mappings): allocations beyond it fail.
   * Not RLIMIT_AS, which also counts the address space V8 and WebAssembly only reserve (tens of GB).
   */
  memoryBytes: z.number().int().positive(),
  /** Processes and threads of the sandbox's uid together (RLIMIT_NPROC; enforced because the uid is not root). */
  processes: z.number().int().positive(),
  /** Size of any one file the sandbox writes (RLIMIT_FSIZE; SIGXFSZ). */
  fileBytes: z.number().int().positive(),
  /** Everything written under the work dir together (watchdog: the tree is killed beyond it). */
  diskBytes: z.number().int().positive(),
  /** Size of the sandbox's private /tmp and /dev/shm (tmpfs, ENOSPC beyond it). */
  tmpBytes: z.number().int().positive(),
  /** CPUs every process may run on (taskset, and seccomp refuses sched_setaffinity); all of the host's when absent. */
  cpus: z.number().int().positive().optional(),
});

export type SandboxLimits = z.infer<typeof sandboxLimitsSchema>;

/** Generous enough for LLaMA-30B on the reference server (360 GB RAM); an organizer tightens them per round. */
export const DEFAULT_RERUN_LIMITS: SandboxLimits = {
  wallSeconds: 6 * 3600,
  cpuSeconds: 6 * 3600 * 32,
  memoryBytes: 320 * GiB,
  processes: 4096,
  fileBytes: 100 * GiB,
  diskBytes: 200 * GiB,
  tmpBytes: 1 * GiB,
};

export const BYTES = { GiB, MiB } as const;
