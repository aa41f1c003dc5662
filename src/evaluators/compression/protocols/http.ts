/**
 * Protocol `http` (PROTOCOL.md): a server per phase, each in its own sandbox. The sandbox's network namespace is
 * its own (bubblewrap --unshare-net), so the request is made from inside it, by optibench's `http-driver.py`
 * (the sandbox's command), which starts the server, waits for /health and then does what the evaluator says over
 * its stdin and stdout. The evaluator keeps the clock outside:
 *
 * - server start: from starting the sandbox to the driver's "ready" (the first 200 on /health); reported, not scored;
 * - the call's time (scored): from writing "go" and the payload to the driver's stdin to reading its "done", so it
 *   includes the pipe transfer of the payload, the driver's multipart request over the sandbox's loopback and its
 *   writing of the answer to the work dir, besides the server's own work.
 *
 * The payload is sent only with "go": a server never sees its input before the clock starts.
 */
import path from 'node:path';
import { packageRoot } from '../../../core/paths.js';
import type { RunningProgram } from '../../../core/program.js';
import { callRequest, failureOf, outputCap, tail, withWorkDir, type CallContext, type CallResult, type Phase, type ProtocolRunner } from './call.js';
import { OutputRefused, readCappedBytes } from './output.js';

/** From the package root, as the other shipped scripts are (package.json `files`): the same path from src/ and dist/. */
export const HTTP_DRIVER = path.join(packageRoot(), 'src', 'evaluators', 'compression', 'protocols', 'http-driver.py');
const MAX_LINE = 1024;

/** Lines from the driver's stdout, capped (the driver shares its sandbox with the solution: untrusted). */
function lineReader(stream: NodeJS.ReadableStream): () => Promise<string | null> {
  let buffered = '';
  let ended = false;
  let waiting: (() => void) | null = null;
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    if (buffered.length > 16 * MAX_LINE) buffered = buffered.slice(-16 * MAX_LINE);
    waiting?.();
  });
  stream.on('end', () => {
    ended = true;
    waiting?.();
  });
  stream.on('error', () => {
    ended = true;
    waiting?.();
  });
  return async () => {
    for (;;) {
      const newline = buffered.indexOf('\n');
      if (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        return line.slice(0, MAX_LINE);
      }
      if (ended) return null;
      await new Promise<void>((resolve) => (waiting = resolve));
      waiting = null;
    }
  };
}

async function call(phase: Phase, payload: Buffer, shape: readonly number[], cap: number, context: CallContext): Promise<CallResult<Buffer>> {
  return withWorkDir(context.scratch, phase, async (dir) => {
    const output = path.join(dir, 'answer.bin');
    const argv = ['/usr/bin/python3', HTTP_DRIVER, phase, shape.join('x'), output, String(cap), String(context.limits.wallSeconds), '--', ...context.solution.manifest.command];
    const started = performance.now();
    const running: RunningProgram = await context.run.start(callRequest(context, dir, argv, cap, [HTTP_DRIVER]));
    running.stdin.on('error', () => {});
    const next = lineReader(running.stdout);
    let serverStartSeconds: number | null = null;
    let seconds = 0;
    let protocolFailure: string | null = null;
    const ready = await next();
    if (ready === 'ready') {
      serverStartSeconds = (performance.now() - started) / 1000;
      const sent = performance.now();
      running.stdin.write(`go ${payload.length}\n`);
      running.stdin.write(payload);
      const done = await next();
      seconds = (performance.now() - sent) / 1000;
      const match = done === null ? null : /^done (\d{3}) (\d+)$/.exec(done);
      if (!match) protocolFailure = done === null ? null : done.startsWith('fail ') ? done.slice(5) : `the driver said "${done.slice(0, 200)}"`;
      else if (match[1] !== '200') protocolFailure = `the server answered ${match[1]}, not 200`;
    } else if (ready !== null) {
      protocolFailure = ready.startsWith('fail ') ? ready.slice(5) : `the driver said "${ready.slice(0, 200)}"`;
    }
    // The answer is in the work dir (or nothing is coming): end the sandbox before reading it.
    running.stop('the call is over');
    const outcome = await running.outcome;
    const base = { seconds, serverStartSeconds, stderrTail: tail(outcome.stderrTail) };
    const ended = outcome.violation && outcome.violation.kind !== 'stopped' ? failureOf(outcome) : null;
    const failure = ended ?? protocolFailure ?? (ready === null || seconds === 0 ? `the sandbox ended before the server answered (${failureOf(outcome)})` : null);
    if (failure !== null) return { ...base, value: null, failure: `${phase}: ${failure}` };
    try {
      return { ...base, value: await readCappedBytes(output, cap, `${phase} answer`), failure: null };
    } catch (error) {
      if (error instanceof OutputRefused) return { ...base, value: null, failure: `${phase}: ${error.message}` };
      throw error;
    }
  });
}

export const httpProtocol: ProtocolRunner = {
  compress: (tensor, originalBytes, context) => call('compress', rawBytes(tensor.bits), tensor.shape, outputCap(originalBytes), context),
  async decompress(compressed, shape, context) {
    const count = shape.reduce((a, b) => a * b, 1);
    const called = await call('decompress', compressed, shape, count * 2, context);
    if (called.value === null) return { ...called, value: null };
    if (called.value.length !== count * 2) return { ...called, value: null, failure: `decompress: the answer is ${called.value.length} bytes, not the sample's ${count * 2} (${count} bfloat16 values)` };
    const bits = new Uint16Array(count);
    for (let i = 0; i < count; i++) bits[i] = called.value.readUInt16LE(2 * i);
    return { ...called, value: { shape, bits } };
  },
};

/** The sample's raw little-endian bfloat16 bytes, no .npy header (PROTOCOL.md). */
function rawBytes(bits: Uint16Array): Buffer {
  const out = Buffer.alloc(bits.length * 2);
  for (let i = 0; i < bits.length; i++) out.writeUInt16LE(bits[i]!, 2 * i);
  return out;
}

