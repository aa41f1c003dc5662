/**
 * Tokenizer throughput: optibench's SentencePiece conversion (run by @huggingface/tokenizers) against
 * Python's sentencepiece on the same strings, in the same invocation, each repeat from a fresh tokenizer
 * (the JavaScript library caches words, which would flatter later passes). Every repeat also compares the
 * ids, so a benchmark can never report the speed of a tokenizer that gives different answers.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { OptibenchError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { median } from '../core/timing.js';
import { sentencePieceToTokenizerJson } from './sentencepiece-convert.js';
import { readSentencePieceModel } from './sentencepiece-model.js';
import { tokenizerFromJson, type TextTokenizer } from './tokenizer.js';

/** Python source is not compiled, so it is found in the package's src/ whether this runs from src/ or dist/. */
const referenceScript = () => path.join(packageRoot(), 'src', 'tokenizers', 'sentencepiece_reference.py');

export interface TokenizerBench {
  readonly strings: number;
  readonly tokens: number;
  readonly equal: number;
  readonly repeats: number;
  /** Reading tokenizer.model, converting it and building the tokenizer (median, ms). */
  readonly conversionMs: number;
  readonly optibench: { readonly medianMs: number; readonly tokensPerSecond: number; readonly runs: number[] };
  readonly sentencepiece: { readonly medianMs: number; readonly tokensPerSecond: number; readonly runs: number[]; readonly version: string } | null;
}

async function freshTokenizer(modelFile: string): Promise<{ tokenizer: TextTokenizer; ms: number }> {
  const started = performance.now();
  const converted = sentencePieceToTokenizerJson(await readSentencePieceModel(modelFile), modelFile);
  const tokenizer = tokenizerFromJson(converted.tokenizerJson, converted.tokenizerConfig, modelFile, { addBos: false });
  return { tokenizer, ms: performance.now() - started };
}

/** Python's sentencepiece on the same strings; its own clock covers the encoding alone. */
export async function sentencePieceReference(
  modelFile: string,
  strings: readonly string[],
  python: string,
): Promise<{ ids: number[][]; seconds: number; version: string }> {
  try {
    const { stdout } = await execa(python, [referenceScript(), modelFile], { input: JSON.stringify({ strings }), maxBuffer: 2 ** 31 - 1 });
    return JSON.parse(stdout) as { ids: number[][]; seconds: number; version: string };
  } catch (error) {
    const detail = (error as { stderr?: string; shortMessage?: string }).stderr?.trim() || (error as Error).message;
    throw new OptibenchError(`the sentencepiece reference failed: ${detail.split('\n').pop()}`, { key: '--python' });
  }
}

/** Strings encoded between two progress reports: a few seconds' worth on the full HellaSwag set, a negligible share of each. */
export const PROGRESS_CHUNK = 1000;

export interface TokenizerBenchOptions {
  readonly repeats: number;
  readonly python: string | null;
  /** A line at each step (a repeat's optibench or sentencepiece pass). */
  readonly onProgress?: (message: string) => void;
  /**
   * Strings optibench has encoded so far in this repeat (0-based), after every `PROGRESS_CHUNK`: a pass over
   * the full set takes minutes. Its own time is not counted in the measurement.
   */
  readonly onEncoded?: (done: number, total: number, repeat: number) => void;
}

/**
 * Encodes every string, timing the encoding alone: between chunks the progress callback runs and the event
 * loop turns (so a progress bar can draw), both outside the clock.
 */
async function encodeAll(tokenizer: TextTokenizer, strings: readonly string[], onChunk: (done: number) => void): Promise<{ ids: number[][]; ms: number }> {
  const ids: number[][] = [];
  let ms = 0;
  for (let start = 0; start < strings.length; start += PROGRESS_CHUNK) {
    const chunk = strings.slice(start, start + PROGRESS_CHUNK);
    const started = performance.now();
    for (const s of chunk) ids.push(tokenizer.encode(s));
    ms += performance.now() - started;
    onChunk(ids.length);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { ids, ms };
}

export async function benchTokenizer(modelFile: string, strings: readonly string[], options: TokenizerBenchOptions): Promise<TokenizerBench> {
  const conversions: number[] = [];
  const ours: number[] = [];
  const theirs: number[] = [];
  let tokens = 0;
  let equal = strings.length;
  let version = '';
  for (let repeat = 0; repeat < options.repeats; repeat++) {
    options.onProgress?.(`repeat ${repeat + 1} of ${options.repeats}: optibench`);
    const { tokenizer, ms } = await freshTokenizer(modelFile);
    conversions.push(ms);
    const { ids, ms: encodeMs } = await encodeAll(tokenizer, strings, (done) => options.onEncoded?.(done, strings.length, repeat));
    ours.push(encodeMs);
    tokens = ids.reduce((sum, row) => sum + row.length, 0);
    if (options.python) {
      options.onProgress?.(`repeat ${repeat + 1} of ${options.repeats}: sentencepiece`);
      const reference = await sentencePieceReference(modelFile, strings, options.python);
      theirs.push(reference.seconds * 1000);
      version = reference.version;
      equal = ids.filter((row, i) => sameIds(row, reference.ids[i]!)).length;
    }
  }
  const perSecond = (ms: number) => tokens / (ms / 1000);
  return {
    strings: strings.length,
    tokens,
    equal,
    repeats: options.repeats,
    conversionMs: median(conversions),
    optibench: { medianMs: median(ours), tokensPerSecond: perSecond(median(ours)), runs: ours },
    sentencepiece: options.python ? { medianMs: median(theirs), tokensPerSecond: perSecond(median(theirs)), runs: theirs, version } : null,
  };
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}
