/**
 * lm-evaluation-harness's split of a (context, continuation) request into token ids, and its left
 * truncation. Mirrors `LM._encode_pair` / `LM.loglikelihood` (lm_eval/api/model.py), `HFLM.tok_encode`
 * and `HFLM._loglikelihood_tokens` (lm_eval/models/huggingface.py) of EleutherAI/lm-evaluation-harness
 * (main, checked at commit 4e7e0d47):
 *
 * ```python
 * if context == "":                                   # LM.loglikelihood
 *     continuation_enc = tok_encode(continuation, add_special_tokens=False)
 *     context_enc, continuation_enc = ([prefix_token_id], continuation_enc) \
 *         if prefix_token_id != continuation_enc[0] else (continuation_enc[:1], continuation_enc[1:])
 * else:                                               # LM._encode_pair
 *     n_spaces = len(context) - len(context.rstrip())
 *     if n_spaces > 0:
 *         continuation = context[-n_spaces:] + continuation
 *         context = context[:-n_spaces]
 *     whole_enc = tok_encode(context + continuation)
 *     context_enc = tok_encode(context)
 *     continuation_enc = whole_enc[len(context_enc):]
 * ```
 *
 * `prefix_token_id` is the BOS id, or the EOS id when the tokenizer has no BOS. `tok_encode` adds BOS as
 * the tokenizer does (here: {@link TextTokenizer.addBos}) unless the string already starts with the BOS
 * token's text (lm-eval's `has_bos_prefix`), so a context that spells out `"<s>"` gets no second BOS.
 *
 * Consequences worth knowing (all lm-eval's, kept on purpose):
 * - the continuation is the *tail of the whole encoding*: when a merge crosses the boundary, the
 *   continuation's ids are not `encode(continuation)` and may even be empty (context `"a"`, continuation
 *   `"a"` with a merge `a a`);
 * - BOS appears once, at the start of the context, never in the continuation.
 *
 * One deliberate addition: if the (non-empty) context still encodes to nothing, which happens only without
 * BOS and with a context of whitespace alone (it all moves to the continuation), the context becomes
 * `[prefix_token_id]` as for an empty context; lm-eval would send an empty context there, which its scorer
 * cannot handle.
 */
import { OptibenchError } from '../core/errors.js';
import type { TextTokenizer } from './tokenizer.js';

export interface TokenPair {
  context: number[];
  continuation: number[];
}

/**
 * The characters Python's `str.rstrip()` (no argument) strips: those for which `str.isspace()` is true,
 * i.e. Unicode general category Zs or bidirectional class WS, B or S (CPython 3.11, Unicode 14):
 * U+0009..U+000D, U+001C..U+001F, U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000. This differs from JavaScript's `trimEnd()`, which also strips U+FEFF but keeps
 * U+001C..U+001F and U+0085. All are in the BMP, so one UTF-16 unit each, as in Python's `len`.
 */
export const PYTHON_WHITESPACE: ReadonlySet<string> = new Set(
  [
    ...range(0x09, 0x0d),
    ...range(0x1c, 0x1f),
    0x20,
    0x85,
    0xa0,
    0x1680,
    ...range(0x2000, 0x200a),
    0x2028,
    0x2029,
    0x202f,
    0x205f,
    0x3000,
  ].map((code) => String.fromCharCode(code)),
);

/** `len(s) - len(s.rstrip())` in Python. */
export function trailingWhitespaceLength(s: string): number {
  let end = s.length;
  while (end > 0 && PYTHON_WHITESPACE.has(s[end - 1] as string)) end--;
  return s.length - end;
}

/** lm-eval's context/continuation token split (see the module comment). */
export function encodePair(tokenizer: TextTokenizer, context: string, continuation: string): TokenPair {
  if (context === '') {
    const continuationEnc = encodeWithoutBos(tokenizer, continuation);
    const prefix = prefixTokenId(tokenizer);
    return continuationEnc[0] === prefix
      ? { context: continuationEnc.slice(0, 1), continuation: continuationEnc.slice(1) }
      : { context: [prefix], continuation: continuationEnc };
  }

  const nSpaces = trailingWhitespaceLength(context);
  if (nSpaces > 0) {
    continuation = context.slice(context.length - nSpaces) + continuation;
    context = context.slice(0, context.length - nSpaces);
  }
  const wholeEnc = tokEncode(tokenizer, context + continuation);
  const contextEnc = tokEncode(tokenizer, context);
  const continuationEnc = wholeEnc.slice(contextEnc.length);
  if (contextEnc.length === 0) return { context: [prefixTokenId(tokenizer)], continuation: continuationEnc };
  return { context: contextEnc, continuation: continuationEnc };
}

/**
 * Keeps the last `maxLength + 1` tokens of `context + continuation`, cutting the context on the left:
 * lm-eval feeds `(context_enc + continuation_enc)[-(max_length+1):][:-1]` to the model, so the tokens
 * kept are exactly those it sees plus the last continuation token it predicts.
 *
 * If the continuation alone is longer than `maxLength + 1`, the result is its last `maxLength + 1` tokens
 * and an empty context: the first of them then has no position predicting it, so only the remaining
 * `maxLength` can be scored (lm-eval has no sensible answer here either). Returns new arrays.
 */
export function truncateLeft(pair: TokenPair, maxLength: number): TokenPair {
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new RangeError(`maxLength must be a positive integer, not ${maxLength}`);
  const keep = maxLength + 1;
  const { context, continuation } = pair;
  if (continuation.length >= keep) return { context: [], continuation: continuation.slice(continuation.length - keep) };
  const contextKeep = Math.min(context.length, keep - continuation.length);
  return { context: context.slice(context.length - contextKeep), continuation: continuation.slice() };
}

/** lm-eval's `prefix_token_id`: the token an empty context is replaced by (BOS, else EOS). */
export function prefixTokenId(tokenizer: TextTokenizer): number {
  const id = tokenizer.bosId ?? tokenizer.eosId;
  if (id === undefined) {
    throw new OptibenchError('cannot score a request with an empty context: the tokenizer has neither a BOS nor an EOS token');
  }
  return id;
}

/** lm-eval's `tok_encode(string)` with `add_special_tokens` left at None. */
function tokEncode(tokenizer: TextTokenizer, text: string): number[] {
  if (tokenizer.addBos && tokenizer.bosToken !== undefined && text.startsWith(tokenizer.bosToken)) {
    return encodeWithoutBos(tokenizer, text);
  }
  return tokenizer.encode(text);
}

/** `tok_encode(text, add_special_tokens=False)`. */
function encodeWithoutBos(tokenizer: TextTokenizer, text: string): number[] {
  const ids = tokenizer.encode(text);
  if (!tokenizer.addBos) return ids;
  if (ids[0] !== tokenizer.bosId) throw new Error(`tokenizer.addBos is true but encode(${JSON.stringify(text)}) does not start with BOS`);
  return ids.slice(1);
}

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
