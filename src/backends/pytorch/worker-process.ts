/**
 * A worker process spoken to over the JSON-lines protocol (PROTOCOL.md): started with execa in its own
 * process group (so torchrun and its ranks go with it), one request in flight, every request under a
 * timeout. Whatever goes wrong — the worker exits or is killed, hangs past the timeout, writes something on
 * stdout that is not a protocol line, or answers with an error — ends the worker: the whole process group is
 * killed and every pending and later call fails with one clear OptibenchError that carries the worker's last
 * stderr lines.
 */
import readline from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { OptibenchError } from '../../core/errors.js';
import type { ReadyLine } from './protocol.js';

/** How many of the worker's last stderr lines an error message carries. */
const STDERR_LINES = 20;
/** How long `close` waits for the worker to answer `close` and exit before killing it. */
const CLOSE_GRACE_MS = 5000;
/** How long a failing worker's stderr may take to reach its end after the kill. */
const STDERR_DRAIN_MS = 1000;

export interface WorkerOptions {
  /** The Python executable (backend.python). */
  readonly python: string;
  readonly args: readonly string[];
  /** Added to the environment optibench runs in. */
  readonly env: Readonly<Record<string, string>>;
  /** How long the worker may take to start, to load, or to answer one request. */
  readonly timeoutMs: number;
  /** Copy the worker's stderr to ours as it comes (OPTIBENCH_WORKER_LOG=1). */
  readonly echoStderr?: boolean;
}

interface Pending {
  readonly id: number;
  readonly op: string;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly onProgress: ((message: string) => void) | undefined;
}

export class WorkerProcess {
  private readonly child: ResultPromise;
  private readonly stderrLines: string[] = [];
  private readonly pendingReady: { resolve: (line: ReadyLine) => void; reject: (error: Error) => void; promise: Promise<ReadyLine> };
  private readyLine: ReadyLine | undefined;
  private pending: Pending | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private failure: OptibenchError | undefined;
  /** Set as soon as the worker is being ended; `failure` follows once its stderr has been read to the end. */
  private failing = false;
  private failureSettled: Promise<void> = Promise.resolve();
  private readonly stderrClosed: Promise<void>;
  private markStderrClosed!: () => void;
  private closing = false;
  private exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly streamsOpen = new Set<'stdout' | 'stderr'>(['stdout', 'stderr']);
  private gone = false;
  private readonly exited: Promise<void>;
  private markExited!: () => void;
  private readonly killOnExit = () => this.killTree();

  private constructor(private readonly options: WorkerOptions) {
    let resolve!: (line: ReadyLine) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<ReadyLine>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    this.pendingReady = { resolve, reject, promise };
    this.exited = new Promise((res) => (this.markExited = res));
    this.stderrClosed = new Promise((res) => (this.markStderrClosed = res));

    this.child = execa(options.python, [...options.args], {
      // Its own process group: killing -pid takes torchrun and every rank with it.
      detached: true,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      env: options.env,
      extendEnv: true,
    });
    // Outcomes are observed through the events below; the promise itself never rejects (reject: false).
    void this.child.then(
      () => {},
      () => {},
    );
    process.on('exit', this.killOnExit);
    this.child.stdin?.on('error', () => {
      // EPIPE when the worker is gone: its exit is reported through the exit event.
    });
    this.child.on('error', (error: NodeJS.ErrnoException) => {
      const python = options.python;
      if (error.code === 'ENOENT') this.fail(`python ${python} not found (backend.python: a Python with PyTorch, e.g. Debian's /usr/bin/python3 with python3-torch)`, false);
      else if (error.code === 'EACCES') this.fail(`python ${python} is not executable (backend.python)`, false);
      else this.fail(`cannot start python ${python}: ${error.message}`, false);
      this.streamsOpen.clear();
      this.onGone();
    });
    this.child.on('exit', (code, signal) => {
      this.exitStatus = { code, signal };
      // Lines still buffered in the pipes are read first; a rank that keeps a pipe open must not stall us.
      setTimeout(() => this.onGone(), 500).unref();
      if (this.streamsOpen.size === 0) this.onGone();
    });

    const lines = (stream: NodeJS.ReadableStream | null | undefined, which: 'stdout' | 'stderr', onLine: (line: string) => void) => {
      if (!stream) return;
      const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
      rl.on('line', onLine);
      rl.on('close', () => {
        if (which === 'stderr') this.markStderrClosed();
        this.streamsOpen.delete(which);
        if (this.streamsOpen.size === 0 && this.exitStatus) this.onGone();
      });
    };
    lines(this.child.stdout, 'stdout', (line) => this.onStdout(line));
    lines(this.child.stderr, 'stderr', (line) => {
      if (options.echoStderr) process.stderr.write(`${line}\n`);
      this.stderrLines.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
      if (this.stderrLines.length > STDERR_LINES) this.stderrLines.shift();
    });
    this.arm('start (no ready line)');
  }

  static start(options: WorkerOptions): WorkerProcess {
    return new WorkerProcess(options);
  }

  /** The process group leader: python, or torchrun's launcher. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The worker's ready line, once it came. */
  get info(): ReadyLine | undefined {
    return this.readyLine;
  }

  /** The worker's last stderr lines (at most 20). */
  get stderrTail(): readonly string[] {
    return [...this.stderrLines];
  }

  /** Resolves with the ready line, or fails as the worker does. */
  ready(): Promise<ReadyLine> {
    return this.pendingReady.promise;
  }

  /** Sends one request and resolves with its `result`; `onProgress` receives the worker's progress lines. */
  async request(op: string, body: Record<string, unknown> = {}, onProgress?: (message: string) => void): Promise<unknown> {
    await this.ready();
    if (this.failing) {
      await this.failureSettled;
      throw this.failure;
    }
    if (this.pending) throw new Error(`WorkerProcess: ${op} requested while ${this.pending.op} is in flight (one request at a time)`);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending = { id, op, resolve, reject, onProgress };
      this.arm(`answer the ${op} request`);
      this.child.stdin?.write(`${JSON.stringify({ id, op, ...body })}\n`);
    });
  }

  /** Asks the worker to close, waits briefly, then kills whatever is left of its process group. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      if (!this.failing && !this.gone && this.readyLine && !this.pending) {
        const asked = this.request('close').catch(() => {});
        await Promise.race([asked, this.exited, delay(CLOSE_GRACE_MS)]);
      }
      await Promise.race([this.exited, delay(this.gone ? 0 : 1000)]);
    }
    this.killTree();
    this.disarm();
    process.off('exit', this.killOnExit);
  }

  /** SIGKILL to the whole process group (the worker, torchrun, every rank). */
  killTree(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }

  private who(): string {
    return `the PyTorch worker (${this.options.python})`;
  }

  private tail(): string {
    const lines = this.stderrLines.filter((l) => l.trim() !== '');
    if (lines.length === 0) return '; it wrote nothing on stderr';
    return `; its last stderr lines: ${lines.map((l) => l.trim()).join(' | ')}`;
  }

  /** Starts the clock for `what` the worker must do ("answer the forward request"). */
  private arm(what: string): void {
    this.disarm();
    const seconds = this.options.timeoutMs / 1000;
    this.timer = setTimeout(() => {
      this.fail(`${this.who()} did not ${what} within ${seconds} s (backend.workerTimeoutSeconds); it was stopped`);
    }, this.options.timeoutMs);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Ends the worker: one error for the pending call and every later one. */
  private fail(message: string, withTail = true): void {
    if (this.failing) return;
    this.failing = true;
    this.disarm();
    this.killTree();
    const settle = () => {
      this.failure = new OptibenchError(withTail ? `${message}${this.tail()}` : message);
      this.pendingReady.reject(this.failure);
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(this.failure);
    };
    if (!withTail) return settle();
    // The worker's last stderr lines may still sit in the pipe (it wrote them just before the fault): read them
    // to the end, which comes at once now that the group is killed, before composing the message.
    this.failureSettled = Promise.race([this.stderrClosed, delay(STDERR_DRAIN_MS)]).then(settle);
  }

  private onGone(): void {
    if (this.gone) return;
    this.gone = true;
    this.markExited();
    process.off('exit', this.killOnExit);
    const status = this.exitStatus;
    if (!status) return;
    // Ranks may outlive a launcher that died: the group goes too.
    this.killTree();
    if (this.closing && !this.pending) return;
    const how = status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
    const noTorch = this.stderrLines.some((l) => /No module named '?torch'?/.test(l));
    if (!this.readyLine && noTorch) {
      this.fail(`PyTorch is not installed for ${this.options.python}: apt-get install python3-torch, or set backend.python to a Python that has torch`, false);
    } else if (!this.readyLine) {
      this.fail(`${this.who()} ${how} before it was ready`);
    } else if (this.pending) {
      this.fail(`${this.who()} ${how} while answering the ${this.pending.op} request`);
    } else {
      this.fail(`${this.who()} ${how} unexpectedly`);
    }
  }

  private garbage(line: string, why: string): void {
    const shown = line.length > 200 ? `${line.slice(0, 200)}…` : line;
    this.fail(`${this.who()} wrote something on stdout that is not a protocol line (${why}): ${JSON.stringify(shown)}; it was stopped`);
  }

  private onStdout(line: string): void {
    if (this.failing) return;
    if (line.trim() === '') return;
    let message: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return this.garbage(line, 'not a JSON object');
      message = parsed as Record<string, unknown>;
    } catch {
      return this.garbage(line, 'not JSON');
    }

    if (message.type === 'fatal') {
      if (message.kind === 'no_torch') {
        return this.fail(`PyTorch is not installed for ${this.options.python}: apt-get install python3-torch, or set backend.python to a Python that has torch`, false);
      }
      return this.fail(`${this.who()} gave up: ${String(message.error)}`);
    }
    if (message.type === 'ready') {
      if (this.readyLine) return this.garbage(line, 'a second ready line');
      if (typeof message.protocol !== 'number' || typeof message.torch !== 'string') return this.garbage(line, 'a ready line without protocol and torch');
      this.readyLine = message as unknown as ReadyLine;
      this.disarm();
      this.pendingReady.resolve(this.readyLine);
      return;
    }
    if (!this.readyLine) return this.garbage(line, 'before the ready line');
    const pending = this.pending;
    if (message.type === 'progress') {
      if (pending && message.id === pending.id && typeof message.message === 'string') pending.onProgress?.(message.message);
      else if (!pending || message.id !== pending.id) this.garbage(line, 'progress for no pending request');
      return;
    }
    if (message.type !== undefined || typeof message.ok !== 'boolean') return this.garbage(line, 'neither a response nor a known message type');
    if (!pending || message.id !== pending.id) {
      return this.garbage(line, pending ? `an answer to request ${String(message.id)} while ${pending.id} was pending` : 'an answer with no request pending');
    }
    if (message.ok) {
      this.pending = undefined;
      this.disarm();
      pending.resolve(message.result);
      return;
    }
    const error = String(message.error);
    switch (message.kind) {
      case 'load':
        return this.fail(`${this.who()} could not load the model: ${error}`, false);
      case 'bad_request':
        return this.fail(`${this.who()} refused the ${pending.op} request: ${error} (a bug in optibench, or a worker from another version)`, false);
      default:
        return this.fail(`${this.who()} failed on the ${pending.op} request: ${error}`);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
