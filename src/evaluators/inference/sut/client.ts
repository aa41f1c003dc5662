/**
 * The harness's end of the SUT protocol: reads the SUT's stdout as capped lines, sends requests, and times
 * each step on the organizer's clock. It measures its own work inside a timed window (writing the pass,
 * splitting and checking answer lines) so the results can say what the harness cost.
 */
import { performance } from 'node:perf_hooks';
import {
  checkAnswer,
  encodeHarnessMessage,
  MAX_LINE_BYTES,
  parseSutLine,
  ProtocolViolation,
  SUT_PROTOCOL_VERSION,
  type Hello,
  type HarnessMessage,
  type SutMessage,
} from './protocol.js';
import type { JsonObject } from '../../../core/json.js';

/** The SUT as the harness sees it: a program's stdin and stdout, and why it ended once it has. */
export interface SutChannel {
  readonly stdin: NodeJS.WritableStream;
  readonly stdout: NodeJS.ReadableStream;
  /** Resolves with a sentence saying how the SUT ended (its exit, a limit that stopped it). */
  readonly ended: Promise<string>;
}

/** The SUT ended, broke the protocol, or did not answer in time: `message` says which, for the run's error. */
export class SutFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SutFailure';
  }
}

export interface PassTiming {
  /** From starting to write the pass to reading its last answer. */
  readonly ms: number;
  /** The harness's own work inside that window. */
  readonly harnessMs: number;
}

export interface PassAnswers extends PassTiming {
  /** By the pass's request id: the summed log-prob and the greedy flag. */
  readonly logprob: Float64Array;
  readonly greedy: Uint8Array;
}

/** What a protocol check refuses, as the session's reason to stop. */
function asSutFailure<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ProtocolViolation) throw new SutFailure(error.message);
    throw error;
  }
}

/** Unread lines the harness keeps at most (four of the longest allowed). */
const MAX_QUEUED_BYTES = 4 * MAX_LINE_BYTES;

export class SutClient {
  private readonly lines: string[] = [];
  private readonly lineBytes: number[] = [];
  /** Bytes of lines read but not yet taken: a SUT writing faster than the harness reads must not fill its memory. */
  private queuedBytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private waiter: (() => void) | null = null;
  private closed: string | null = null;
  private violation: string | null = null;
  /** Time spent splitting stdout into lines since the last reset. */
  private splitMs = 0;

  constructor(
    private readonly channel: SutChannel,
    private readonly maxQueuedBytes = MAX_QUEUED_BYTES,
  ) {
    channel.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    channel.stdout.on('end', () => this.onEnd());
    channel.stdout.on('error', () => this.onEnd());
  }

  private onData(chunk: Buffer): void {
    const t = performance.now();
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      this.pending.push(piece);
      this.pendingBytes += piece.length;
      if (this.pendingBytes <= MAX_LINE_BYTES) {
        this.lines.push(Buffer.concat(this.pending, this.pendingBytes).toString('utf8'));
        this.lineBytes.push(this.pendingBytes);
        this.queuedBytes += this.pendingBytes;
        if (this.queuedBytes > this.maxQueuedBytes) {
          this.violation ??= `the SUT wrote more than ${Math.round(this.maxQueuedBytes / 1024 / 1024)} MiB the harness had not read yet`;
          this.lines.length = 0;
          this.lineBytes.length = 0;
          this.queuedBytes = 0;
        }
      }
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      // A line that never ends must not fill the organizer's memory.
      if (this.pendingBytes + rest.length > MAX_LINE_BYTES) {
        this.violation ??= `the SUT wrote a line longer than ${MAX_LINE_BYTES / 1024 / 1024} MiB`;
        this.pending = [];
      } else {
        this.pending.push(rest);
      }
      this.pendingBytes += rest.length;
    }
    this.splitMs += performance.now() - t;
    this.wake();
  }

  private onEnd(): void {
    this.closed ??= 'its output ended';
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  /** The next line, or a SutFailure: the SUT ended, broke a limit, or `timeoutMs` passed. */
  private async nextLine(timeoutMs: number | undefined, waitingFor: string): Promise<string> {
    for (;;) {
      if (this.violation) throw new SutFailure(this.violation);
      const line = this.lines.shift();
      if (line !== undefined) {
        this.queuedBytes -= this.lineBytes.shift()!;
        return line;
      }
      if (this.closed) {
        const how = await Promise.race([this.channel.ended, new Promise<string>((resolve) => setTimeout(() => resolve(this.closed!), 5000).unref())]);
        throw new SutFailure(`the SUT ended while the harness waited for ${waitingFor}: ${how}`);
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await new Promise<boolean>((resolve) => {
        this.waiter = () => resolve(false);
        if (timeoutMs !== undefined) timer = setTimeout(() => resolve(true), timeoutMs);
      });
      clearTimeout(timer);
      if (timedOut) throw new SutFailure(`the SUT did not send ${waitingFor} within ${Number((timeoutMs! / 1000).toFixed(2))} s`);
    }
  }

  private async next(timeoutMs: number | undefined, waitingFor: string): Promise<SutMessage> {
    return this.message(await this.nextLine(timeoutMs, waitingFor));
  }

  /** A line as a message; a malformed one, or the SUT's own error, ends the session with the reason. */
  private message(line: string): SutMessage {
    const message = asSutFailure(() => parseSutLine(line));
    if (message.type === 'error') throw new SutFailure(`the SUT reported an error: ${message.message}`);
    return message;
  }

  private send(message: HarnessMessage | Buffer): void {
    this.channel.stdin.write(Buffer.isBuffer(message) ? message : encodeHarnessMessage(message));
  }

  private expect<T extends SutMessage['type']>(message: SutMessage, type: T, step: string): Extract<SutMessage, { type: T }> {
    if (message.type !== type) throw new SutFailure(`the SUT sent "${message.type}" where the protocol expects "${type}" (${step})`);
    return message as Extract<SutMessage, { type: T }>;
  }

  async hello(timeoutMs: number): Promise<Hello> {
    const hello = this.expect(await this.next(timeoutMs, 'its hello'), 'hello', 'its first line');
    if (hello.version !== SUT_PROTOCOL_VERSION) {
      throw new SutFailure(`the SUT speaks protocol version ${hello.version}; this harness speaks version ${SUT_PROTOCOL_VERSION}`);
    }
    return hello;
  }

  /** Sends load and waits for loaded: the load time on the harness's clock. */
  async load(modelDir: string, cacheDir: string): Promise<{ ms: number; about: JsonObject }> {
    const t = performance.now();
    this.send({ op: 'load', modelDir, cacheDir });
    const loaded = this.expect(await this.next(undefined, 'loaded'), 'loaded', 'after load');
    return { ms: performance.now() - t, about: loaded.about ?? {} };
  }

  /**
   * Sends one pass (already encoded, so building it is outside the clock) of `count` requests with ids
   * 0..count-1, and reads answers until every request has one.
   */
  async pass(pass: number, line: Buffer, count: number, onProgress?: (answered: number) => void): Promise<PassAnswers> {
    const logprob = new Float64Array(count);
    const greedy = new Uint8Array(count);
    const answered = new Uint8Array(count);
    let done = 0;
    let harnessMs = 0;
    this.splitMs = 0;
    const t0 = performance.now();
    this.send(line);
    harnessMs += performance.now() - t0;
    while (done < count) {
      const line = await this.nextLine(undefined, `the answers of pass ${pass}`);
      const t = performance.now();
      const answers = this.expect(this.message(line), 'answers', `during pass ${pass}`);
      if (answers.pass !== pass) throw new SutFailure(`the SUT answered for pass ${answers.pass} during pass ${pass}`);
      for (const value of answers.answers) {
        const answer = asSutFailure(() => checkAnswer(value));
        if (answer.id < 0 || answer.id >= count) throw new SutFailure(`the SUT answered request ${answer.id}, which pass ${pass} does not have`);
        if (answered[answer.id]) throw new SutFailure(`the SUT answered request ${answer.id} of pass ${pass} twice`);
        answered[answer.id] = 1;
        logprob[answer.id] = answer.logprob;
        greedy[answer.id] = answer.greedy ? 1 : 0;
        done++;
      }
      harnessMs += performance.now() - t;
      onProgress?.(done);
    }
    const ms = performance.now() - t0;
    return { ms, harnessMs: harnessMs + this.splitMs, logprob, greedy };
  }

  /** Says close and waits (at most `timeoutMs`) for bye; a SUT that just exits is fine too. */
  async close(timeoutMs: number): Promise<void> {
    this.send({ op: 'close' });
    this.channel.stdin.end();
    try {
      const message = await this.next(timeoutMs, 'bye');
      this.expect(message, 'bye', 'after close');
    } catch (error) {
      if (error instanceof SutFailure && /ended while|did not send bye/.test(error.message)) return;
      throw error;
    }
  }
}
