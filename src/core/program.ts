/**
 * Running an untrusted program: a team's submission, a miner's compressor, a tournament entry. The caller
 * says what the program may read, where it may write and within which limits; the runner (bubblewrap in
 * `src/sandbox`) says how it ended and how long it ran, measured outside the program. Nothing the program
 * reports about itself is in the outcome: what it wrote to its work dir is read by the caller afterwards, as
 * untrusted input (see `readCappedText` in `core/result-file.ts`).
 */

/** What a program may use. Each limit says which mechanism enforces it (see `src/sandbox/limits.ts`). */
export interface ProgramLimits {
  /** Wall time of the whole process tree; on expiry every process is killed. */
  readonly wallSeconds: number;
  /** CPU seconds each process may use. */
  readonly cpuSeconds: number;
  /** Data memory of each process. */
  readonly memoryBytes: number;
  /** Processes and threads together. */
  readonly processes: number;
  /** Size of any one file it writes. */
  readonly fileBytes: number;
  /** Everything written under the work dir together. */
  readonly diskBytes: number;
  /** Its private /tmp and /dev/shm. */
  readonly tmpBytes: number;
  /** How many CPUs it may run on, none able to widen that; every CPU of the host when absent. */
  readonly cpus?: number;
}

/** A host device node and where the program sees it. */
export interface DeviceNode {
  readonly host: string;
  readonly at: string;
}

export interface ProgramRequest {
  /** argv; the first element is looked up on the program's PATH. */
  readonly command: readonly string[];
  /**
   * The only writable host directory, visible at the same path; the program's outputs land here, and the
   * caller reads them after the program has ended. The runner makes the program's user own it.
   */
  readonly workDir: string;
  /** Host paths the program may read, at the same path (its inputs, the organizer's code it runs on). */
  readonly inputs: readonly string[];
  /** Host paths that must stay invisible even where they lie under an input (labels, the results database). */
  readonly hidden: readonly string[];
  /** Host device nodes passed in (the GPUs asked for); nothing else of the host's /dev is visible. */
  readonly devices?: readonly DeviceNode[];
  /** Working directory inside; the work dir by default. */
  readonly cwd?: string;
  /** The program's whole environment: nothing of optibench's own leaks in. */
  readonly env: Readonly<Record<string, string>>;
  readonly limits: ProgramLimits;
  /** Each chunk the program writes, as it comes (for a log). */
  readonly onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** Ends the program at once when it fires (a Ctrl-C'd round): the outcome's violation is `stopped`. */
  readonly signal?: AbortSignal;
}

export type ViolationKind = 'timeout' | 'processes' | 'disk' | 'cpu' | 'memory' | 'network' | 'labels' | 'crash' | 'exit' | 'stopped';

/** Why a program did not finish cleanly, in words an organizer and a team both understand. */
export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
}

export interface ProgramOutcome {
  /** Exit 0 within every limit. */
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly violation: Violation | null;
  /** Measured by the runner, outside the program. */
  readonly wallSeconds: number;
  /** Most processes and threads seen at once. */
  readonly peakTasks: number;
  readonly stdoutTail: string;
  readonly stderrTail: string;
  /** False if a process of the program survived the kill (never seen; reported rather than assumed). */
  readonly cleanedUp: boolean;
}

/**
 * A program the caller talks to while it runs (a system under test answering requests): its stdin and stdout
 * are the caller's, its stderr is kept as a tail. The caller's side of the conversation is untrusted input
 * like any file the program writes.
 */
export interface RunningProgram<Outcome extends ProgramOutcome = ProgramOutcome> {
  readonly stdin: NodeJS.WritableStream;
  readonly stdout: NodeJS.ReadableStream;
  /** How it ended; settles once every process of it is gone. */
  readonly outcome: Promise<Outcome>;
  /** Ends it at once; the outcome's violation is `stopped` with this reason (unless a limit ended it first). */
  stop(reason: string): void;
}

export interface ProgramRunner<Outcome extends ProgramOutcome = ProgramOutcome> {
  /** What isolates the program, for results ("bubblewrap"). */
  readonly name: string;
  run(request: ProgramRequest): Promise<Outcome>;
  /** Starts the program with its stdin and stdout given to the caller (its `stdoutTail` stays empty). */
  start(request: ProgramRequest): Promise<RunningProgram<Outcome>>;
}
