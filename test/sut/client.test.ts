/**
 * The harness's end of the SUT protocol on plain streams (no process): what it keeps of a SUT that writes
 * faster than it reads or never ends a line, and how an answer is checked, worked out by hand.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SutClient } from '../../src/evaluators/inference/sut/client.js';
import { checkAnswer, encodeHarnessMessage, parseSutLine } from '../../src/evaluators/inference/sut/protocol.js';
import { measuredPass } from '../../src/evaluators/inference/sut/passes.js';
import { createRandom } from '../../src/core/random.js';

function channel() {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  stdin.resume();
  return { stdin, stdout, ended: new Promise<string>(() => {}) };
}

const hello = `${JSON.stringify({ type: 'hello', protocol: 'optibench-sut', version: 1, name: 'x' })}\n`;

describe('the harness reading a SUT', () => {
  it('stops a SUT whose unread lines pass the cap, and drops them', async () => {
    const c = channel();
    const client = new SutClient(c, 1024 * 1024);
    const line = `${JSON.stringify({ type: 'loaded', about: { pad: 'x'.repeat(1000) } })}\n`;
    for (let i = 0; i < 1100; i++) c.stdout.write(line); // about 1.1 MB, nobody reading
    await new Promise((resolve) => setImmediate(resolve));
    await expect(client.hello(1000)).rejects.toThrow('the SUT wrote more than 1 MiB the harness had not read yet');
  });

  it('reads a line split across many chunks, and one with its newline in the next chunk', async () => {
    const c = channel();
    const client = new SutClient(c);
    for (const ch of hello.slice(0, -1)) c.stdout.write(ch);
    setTimeout(() => c.stdout.write('\n'), 10);
    expect((await client.hello(1000)).name).toBe('x');
  });

  it('times out a SUT that says nothing', async () => {
    const client = new SutClient(channel());
    await expect(client.hello(50)).rejects.toThrow('the SUT did not send its hello within 0.05 s');
  });

  it('refuses a version it does not speak', async () => {
    const c = channel();
    const client = new SutClient(c);
    c.stdout.write(`${JSON.stringify({ type: 'hello', protocol: 'optibench-sut', version: 2, name: 'x' })}\n`);
    await expect(client.hello(1000)).rejects.toThrow('the SUT speaks protocol version 2; this harness speaks version 1');
  });
});

describe('messages', () => {
  it('checks answers field by field', () => {
    expect(checkAnswer({ id: 3, logprob: -0.5, greedy: true })).toEqual({ id: 3, logprob: -0.5, greedy: true });
    expect(checkAnswer({ id: 3, logprob: -0, greedy: false }).logprob).toBe(-0);
    expect(() => checkAnswer({ id: 3.5, logprob: -1, greedy: true })).toThrow('an answer has no integer "id"');
    expect(() => checkAnswer({ id: 3, logprob: '-1', greedy: true })).toThrow('the answer to request 3 has "logprob" "-1": expected a finite number <= 0');
    expect(() => checkAnswer({ id: 3, logprob: 1e-9, greedy: true })).toThrow('expected a finite number <= 0');
    expect(() => checkAnswer({ id: 3, logprob: -1, greedy: 1 })).toThrow('the answer to request 3 has no boolean "greedy"');
    expect(() => checkAnswer([3, -1, true])).toThrow('an answer has no integer "id"');
  });

  it('reads a SUT error as its words, cut at 2,000 characters', () => {
    expect(parseSutLine(JSON.stringify({ type: 'error', message: 'e'.repeat(5000) }))).toEqual({ type: 'error', message: 'e'.repeat(2000) });
    expect(() => parseSutLine('{"type":"hello","protocol":"other","version":1,"name":"x"}')).toThrow("the SUT's hello message is malformed at protocol");
  });
});

describe('a measured pass', () => {
  it('holds every planned request once, each document together with its endings permuted, ids 0..n-1 in order sent', () => {
    // Three documents of four endings: plan ids 0..11, document d holds 4d..4d+3.
    const requests = Array.from({ length: 12 }, (_, id) => ({ id, group: Math.floor(id / 4), context: [1, Math.floor(id / 4)], continuation: [100 + id] }));
    const requestsByDoc = [0, 1, 2].map((d) => [4 * d, 4 * d + 1, 4 * d + 2, 4 * d + 3]);
    const built = measuredPass({ requests, requestsByDoc }, 1, createRandom(7));
    const sent = JSON.parse(built.line.toString('utf8')) as { pass: number; phase: string; requests: { id: number; group: number; continuation: number[] }[] };
    expect(sent).toMatchObject({ pass: 1, phase: 'measured' });
    expect(sent.requests.map((r) => r.id)).toEqual([...Array(12).keys()]);
    // The plan id behind each pass id is the request whose tokens were sent under it.
    sent.requests.forEach((r, i) => expect(r.continuation).toEqual([100 + built.planIdOf[i]!]));
    expect([...built.planIdOf].sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    // A group is one document's four requests, sent together.
    for (let g = 0; g < 3; g++) expect(new Set(sent.requests.slice(4 * g, 4 * g + 4).map((r) => Math.floor(built.planIdOf[r.id]! / 4))).size).toBe(1);
    expect(encodeHarnessMessage({ op: 'close' }).toString()).toBe('{"op":"close"}\n');
  });

  it('a new pass puts the same requests under other ids', () => {
    const requests = Array.from({ length: 40 }, (_, id) => ({ id, group: Math.floor(id / 4), context: [1], continuation: [id] }));
    const requestsByDoc = Array.from({ length: 10 }, (_, d) => [4 * d, 4 * d + 1, 4 * d + 2, 4 * d + 3]);
    const random = createRandom(1);
    const a = measuredPass({ requests, requestsByDoc }, 1, random);
    const b = measuredPass({ requests, requestsByDoc }, 2, random);
    const same = [...a.planIdOf].filter((planId, id) => b.planIdOf[id] === planId).length;
    expect(same).toBeLessThan(10);
  });
});
