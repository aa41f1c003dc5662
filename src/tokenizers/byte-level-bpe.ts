/**
 * A small byte-level BPE trainer, written for optibench's embedded default model: it turns a corpus into a
 * complete Hugging Face `tokenizer.json` (and `tokenizer_config.json`), deterministically.
 *
 * Vocabulary layout (ids):
 * - 0 `<unk>`, 1 `<s>`, 2 `</s>`: LLaMA's special-token ids;
 * - 3..258: the 256 bytes, ordered by byte value, each written as its character in GPT-2's
 *   bytes-to-unicode alphabet (printable Latin-1 bytes stand for themselves; the others map to U+0100 and
 *   up in byte order, e.g. space -> `Ġ` U+0120, newline -> `Ċ` U+010A);
 * - 259..: merged tokens, in merge order (a merge whose result already exists adds no id).
 *
 * Training is the classic algorithm: pre-tokenize the corpus into words with the GPT-2 pattern (the same
 * pattern the ByteLevel pre-tokenizer applies at run time), write each word's UTF-8 bytes in the alphabet
 * above, count adjacent symbol pairs over all words weighted by word frequency (every position, so `aaa`
 * holds the pair `a a` twice), merge the most frequent pair everywhere (left to right, non-overlapping),
 * repeat. Ties go to the pair whose left symbol, then right symbol, is smallest in JavaScript string order
 * (UTF-16 code units). Training stops after `numMerges` merges or when no pair occurs twice.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OptibenchError } from '../core/errors.js';

export const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>'] as const;
/** Id of the first byte token (byte 0); byte b has id `BYTE_TOKEN_OFFSET + b`. */
export const BYTE_TOKEN_OFFSET = SPECIAL_TOKENS.length;
/** The id the first merge gets. */
export const FIRST_MERGE_ID = BYTE_TOKEN_OFFSET + 256;
/** lm-evaluation-harness's default maximum length when a model states none. */
export const DEFAULT_MODEL_MAX_LENGTH = 2048;

/**
 * GPT-2's pre-tokenization pattern, as the ByteLevel pre-tokenizer (`use_regex: true`) applies it:
 * contractions, optionally-space-led runs of letters / numbers / other symbols, then whitespace runs
 * (a run followed by a non-space leaves its last space to lead the next word).
 */
const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's bytes-to-unicode table: `BYTE_TO_CHAR[b]` is the one-character string standing for byte b. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = [];
  let next = 0x100;
  for (let b = 0; b < 256; b++) table.push(String.fromCharCode(printable(b) ? b : next++));
  return table;
})();

export interface BpeModelJson {
  type: 'BPE';
  dropout: null;
  unk_token: string;
  continuing_subword_prefix: null;
  end_of_word_suffix: null;
  fuse_unk: boolean;
  byte_fallback: boolean;
  ignore_merges: boolean;
  vocab: Record<string, number>;
  /** `"left right"`: no byte-level symbol contains a space (a space byte is `Ġ`). */
  merges: string[];
}

/** The `tokenizer.json` object `trainByteLevelBpe` returns. */
export interface ByteLevelTokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: { id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean; special: boolean }[];
  normalizer: null;
  pre_tokenizer: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  post_processor: object;
  decoder: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  model: BpeModelJson;
}

/** A corpus word as its current symbols, and how often it occurs. */
interface Word {
  symbols: string[];
  count: number;
}

/** The corpus split into GPT-2 words, each written in the byte alphabet. */
export function byteLevelWords(text: string): string[] {
  const encoder = new TextEncoder();
  return (text.match(GPT2_PATTERN) ?? []).map((word) => Array.from(encoder.encode(word), (b) => BYTE_TO_CHAR[b]).join(''));
}

/** Trains a byte-level BPE on `corpus` (see the module comment) and returns its `tokenizer.json` object. */
export function trainByteLevelBpe(corpus: string, numMerges: number): ByteLevelTokenizerJson {
  if (!Number.isInteger(numMerges) || numMerges < 0) throw new RangeError(`numMerges must be a non-negative integer, not ${numMerges}`);

  const counts = new Map<string, number>();
  for (const word of byteLevelWords(corpus)) counts.set(word, (counts.get(word) ?? 0) + 1);
  const words: Word[] = [...counts].map(([word, count]) => ({ symbols: Array.from(word), count }));

  const vocab = new Map<string, number>();
  SPECIAL_TOKENS.forEach((token, id) => vocab.set(token, id));
  BYTE_TO_CHAR.forEach((char, b) => vocab.set(char, BYTE_TOKEN_OFFSET + b));

  const merges: [string, string][] = [];
  while (merges.length < numMerges) {
    const best = mostFrequentPair(words);
    if (best === undefined) break;
    const [left, right] = best;
    merges.push(best);
    const merged = left + right;
    if (!vocab.has(merged)) vocab.set(merged, vocab.size);
    for (const word of words) word.symbols = applyMerge(word.symbols, left, right, merged);
  }

  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    // What `add_special_tokens=True` means for Hugging Face's own libraries: `<s>` first, as LLaMA's.
    // optibench's loader ignores it and adds BOS itself.
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      // fromEntries, not assignment: a token spelled `__proto__` must stay an ordinary key.
      vocab: Object.fromEntries(vocab),
      merges: merges.map(([left, right]) => `${left} ${right}`),
    },
  };
}

/** The most frequent adjacent pair (ties: smallest left, then right), or undefined if none occurs twice. */
function mostFrequentPair(words: readonly Word[]): [string, string] | undefined {
  // Keyed "left right": byte-level symbols contain no space, so the key splits back unambiguously.
  const pairCounts = new Map<string, number>();
  for (const { symbols, count } of words) {
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = `${symbols[i]} ${symbols[i + 1]}`;
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
    }
  }
  let best: [string, string] | undefined;
  let bestCount = 0;
  for (const [key, count] of pairCounts) {
    if (count < 2 || count < bestCount) continue;
    const pair = key.split(' ') as [string, string];
    if (best === undefined || count > bestCount || comparePairs(pair, best) < 0) {
      best = pair;
      bestCount = count;
    }
  }
  return best;
}

function comparePairs(a: readonly [string, string], b: readonly [string, string]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}

/** Replaces every `left right` in `symbols` by `merged`, scanning left to right without overlaps. */
function applyMerge(symbols: readonly string[], left: string, right: string, merged: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
      out.push(merged);
      i++;
    } else {
      out.push(symbols[i] as string);
    }
  }
  return out;
}

/** The `tokenizer_config.json` that goes with a trained tokenizer. */
export function byteLevelTokenizerConfig(modelMaxLength: number = DEFAULT_MODEL_MAX_LENGTH): Record<string, unknown> {
  return {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    clean_up_tokenization_spaces: false,
    model_max_length: modelMaxLength,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
}

/**
 * Trains on `corpus` and writes `<dir>/tokenizer.json` and `<dir>/tokenizer_config.json` (creating `dir`).
 * Same corpus and settings -> byte-identical files. Returns the two paths.
 */
export async function writeByteLevelTokenizer(
  dir: string,
  corpus: string,
  numMerges: number,
  options: { modelMaxLength?: number } = {},
): Promise<{ tokenizerPath: string; configPath: string }> {
  const tokenizerPath = path.join(dir, 'tokenizer.json');
  const configPath = path.join(dir, 'tokenizer_config.json');
  const tokenizerText = `${JSON.stringify(trainByteLevelBpe(corpus, numMerges), null, 2)}\n`;
  const configText = `${JSON.stringify(byteLevelTokenizerConfig(options.modelMaxLength), null, 2)}\n`;
  for (const [file, text] of [
    [tokenizerPath, tokenizerText],
    [configPath, configText],
  ] as const) {
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(file, text, 'utf8');
    } catch (error) {
      throw new OptibenchError(`cannot write the tokenizer: ${error instanceof Error ? error.message : String(error)}`, { file }, { cause: error });
    }
  }
  return { tokenizerPath, configPath };
}
