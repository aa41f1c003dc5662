/**
 * The system-under-test protocol's messages (PROTOCOL.md beside this file), shared by the harness that asks
 * (`client.ts`) and `optibench serve` that answers. Everything a SUT sends is untrusted: the parsers here
 * check every field and say what was wrong, and answers are checked by hand rather than by a schema library
 * because they are parsed inside the timed window (its cost is the harness's share).
 */
import { z } from 'zod';
import type { TokenRequest } from '../../../core/backend.js';
import { jsonObjectSchema, type JsonObject } from '../../../core/json.js';

export const SUT_PROTOCOL = 'optibench-sut';
export const SUT_PROTOCOL_VERSION = 1;
/** Longest line a SUT may send: a pass's answers for the full HellaSwag set are a few MB. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;
/** Largest `about` a SUT may report, as JSON. */
export const MAX_ABOUT_BYTES = 64 * 1024;
/** Characters of a SUT's error message kept. */
export const MAX_ERROR_CHARS = 2000;

export type PassPhase = 'warmup' | 'measured';

/** One request as it travels: the backend contract's request, its id and group fresh per pass. */
export type WireRequest = TokenRequest;

export interface WireAnswer {
  readonly id: number;
  readonly logprob: number;
  readonly greedy: boolean;
}

export type HarnessMessage =
  | { readonly op: 'load'; readonly modelDir: string; readonly cacheDir: string }
  | { readonly op: 'pass'; readonly pass: number; readonly phase: PassPhase; readonly requests: readonly WireRequest[] }
  | { readonly op: 'close' };

const aboutSchema = jsonObjectSchema.refine((about) => JSON.stringify(about).length <= MAX_ABOUT_BYTES, { message: `at most ${MAX_ABOUT_BYTES / 1024} KiB of JSON` });

export const helloSchema = z.object({
  type: z.literal('hello'),
  protocol: z.literal(SUT_PROTOCOL),
  version: z.number().int(),
  name: z.string().min(1).max(200),
  about: aboutSchema.optional(),
});
export type Hello = z.infer<typeof helloSchema>;

const loadedSchema = z.object({ type: z.literal('loaded'), about: aboutSchema.optional() });
const byeSchema = z.object({ type: z.literal('bye') });
const errorSchema = z.object({ type: z.literal('error'), message: z.string() });

export type SutMessage =
  | Hello
  | { readonly type: 'loaded'; readonly about?: JsonObject }
  | { readonly type: 'answers'; readonly pass: number; readonly answers: readonly unknown[] }
  | { readonly type: 'bye' }
  | { readonly type: 'error'; readonly message: string };

/** Why a line is not a message, said once for every caller. */
export class ProtocolViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

function quote(line: string): string {
  const text = line.length > 200 ? `${line.slice(0, 200)}…` : line;
  return JSON.stringify(text);
}

/** A line from the SUT as a message; answers are left for `checkAnswer`, one at a time. */
export function parseSutLine(line: string): SutMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ProtocolViolation(`the SUT wrote a line that is not a protocol message (not JSON): ${quote(line)}`);
  }
  const type = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as { type?: unknown }).type : undefined;
  const checked = (schema: z.ZodType, what: string): SutMessage => {
    const result = schema.safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw new ProtocolViolation(`the SUT's ${what} message is malformed at ${issue.path.join('.') || '(top)'}: ${issue.message}`);
    }
    return result.data as SutMessage;
  };
  switch (type) {
    case 'hello':
      return checked(helloSchema, 'hello');
    case 'loaded':
      return checked(loadedSchema, 'loaded');
    case 'bye':
      return checked(byeSchema, 'bye');
    case 'error': {
      const message = checked(errorSchema, 'error') as { type: 'error'; message: string };
      return { type: 'error', message: message.message.slice(0, MAX_ERROR_CHARS) };
    }
    case 'answers': {
      const { pass, answers } = value as { pass?: unknown; answers?: unknown };
      if (!Number.isInteger(pass)) throw new ProtocolViolation('the SUT\'s answers message has no integer "pass"');
      if (!Array.isArray(answers)) throw new ProtocolViolation('the SUT\'s answers message has no "answers" list');
      return { type: 'answers', pass: pass as number, answers };
    }
    default:
      throw new ProtocolViolation(`the SUT wrote a line that is not a protocol message (no known "type"): ${quote(line)}`);
  }
}

/** One answer checked: an object with an integer id, a finite log-prob <= 0 and a boolean greedy flag. */
export function checkAnswer(value: unknown): WireAnswer {
  if (value === null || typeof value !== 'object') throw new ProtocolViolation(`an answer is not an object: ${quote(JSON.stringify(value) ?? String(value))}`);
  const { id, logprob, greedy } = value as { id?: unknown; logprob?: unknown; greedy?: unknown };
  if (typeof id !== 'number' || !Number.isInteger(id)) throw new ProtocolViolation(`an answer has no integer "id": ${quote(JSON.stringify(value))}`);
  if (typeof logprob !== 'number' || !Number.isFinite(logprob) || logprob > 0) {
    throw new ProtocolViolation(`the answer to request ${id} has "logprob" ${JSON.stringify(logprob) ?? 'missing'}: expected a finite number <= 0`);
  }
  if (typeof greedy !== 'boolean') throw new ProtocolViolation(`the answer to request ${id} has no boolean "greedy"`);
  return { id, logprob, greedy };
}

/** A message from the harness as one protocol line. */
export function encodeHarnessMessage(message: HarnessMessage): Buffer {
  return Buffer.from(`${JSON.stringify(message)}\n`, 'utf8');
}
