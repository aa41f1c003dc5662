/**
 * The evaluator's own share of a sample's timed window, measured on every run with a solution that does no
 * work, so a reader sees what the evaluator adds to every call:
 * - cli: the same sandbox, limits, pinning and teardown around `/bin/true`, twice (compress and decompress);
 * - http: the timed window starts after the server is up, so what the evaluator adds is the transfer: a round
 *   trip of a sample-sized payload through optibench's driver to a null server (`null-http/server.py`: it
 *   reads the upload and answers with its length, then with that many zero bytes).
 */
import path from 'node:path';
import { packageRoot } from '../../../core/paths.js';
import { median } from '../../../core/timing.js';
import type { Solution } from '../solution.js';
import { callRequest, withWorkDir, type CallContext } from './call.js';
import { httpProtocol } from './http.js';

export const NULL_HTTP_SERVER = path.join(packageRoot(), 'src', 'evaluators', 'compression', 'protocols', 'null-http');

export interface Overhead {
  /** Seconds the evaluator adds to one sample's task time (both calls), median of the repeats. */
  readonly roundTripSeconds: number;
  readonly method: 'sandboxed /bin/true, twice' | 'null http server round trip';
}

async function nullCliCall(context: CallContext): Promise<number | null> {
  const outcome = await withWorkDir(context.scratch, 'compress', (dir) => context.run.run({ ...callRequest(context, dir, ['/bin/true'], 1024 * 1024), cwd: dir, inputs: [] }));
  return outcome.ok ? outcome.wallSeconds : null;
}

async function nullHttpRoundTrip(context: CallContext, shape: readonly number[]): Promise<number | null> {
  const solution: Solution = { root: NULL_HTTP_SERVER, manifest: { schema: 'optibench/compression-solution', version: 1, name: 'null-http', protocol: 'http', command: ['/usr/bin/python3', 'server.py'] } };
  const call = { ...context, solution };
  const count = shape.reduce((a, b) => a * b, 1);
  const compressed = await httpProtocol.compress({ shape, bits: new Uint16Array(count) }, count * 2, call);
  if (compressed.value === null) return null;
  const restored = await httpProtocol.decompress(compressed.value, shape, call);
  return restored.value === null ? null : compressed.seconds + restored.seconds;
}

/** `shape`: a typical sample's (the http transfer grows with it); null when the null solution failed every time. */
export async function measureOverhead(context: CallContext, protocol: 'cli' | 'http', shape: readonly number[], repeats = 3): Promise<Overhead | null> {
  const seconds: number[] = [];
  for (let i = 0; i < repeats; i++) {
    if (protocol === 'cli') {
      const [a, b] = [await nullCliCall(context), await nullCliCall(context)];
      if (a !== null && b !== null) seconds.push(a + b);
    } else {
      const roundTrip = await nullHttpRoundTrip(context, shape);
      if (roundTrip !== null) seconds.push(roundTrip);
    }
  }
  return seconds.length ? { roundTripSeconds: median(seconds), method: protocol === 'cli' ? 'sandboxed /bin/true, twice' : 'null http server round trip' } : null;
}
