import { describe, expect, it } from 'vitest';
import { trainByteLevelBpe } from '../../src/tokenizers/byte-level-bpe.js';
import { PYTHON_WHITESPACE, encodePair, trailingWhitespaceLength, truncateLeft } from '../../src/tokenizers/encode-pair.js';
import { tokenizerFromJson } from '../../src/tokenizers/tokenizer.js';
import { isOptibenchError } from '../../src/core/errors.js';

/*
 * The tokenizer trained on "aaab aab ab" (worked out by hand in byte-level-bpe.test.ts):
 *   <s> 1, </s> 2, "a" 100, "b" 101, "Ġ" (space) 35, "ĉ" (tab) 12, merges "a a" -> aa 259, "a b" -> ab 260.
 * Words are cut by GPT-2's pattern before BPE, so merges never cross a space.
 */
const json = trainByteLevelBpe('aaab aab ab', 100);
const tok = tokenizerFromJson(json, { add_bos_token: true, bos_token: '<s>', eos_token: '</s>' });
const noBos = tokenizerFromJson(json, { add_bos_token: false, bos_token: '<s>', eos_token: '</s>' });

describe('encodePair (lm-eval _encode_pair)', () => {
  it('moves trailing spaces of the context to the continuation', () => {
    // context "aab", continuation " ab"; whole "aab ab" = aab | " ab" = [1, aa b][Ġ ab]
    expect(encodePair(tok, 'aab ', 'ab')).toEqual({ context: [1, 259, 101], continuation: [35, 260] });
    // Splitting naively would have given context [1, 259, 101, 35] and continuation [260].
    // Two spaces: whole "aa  ab" = "aa" | " " | " ab" = [aa][Ġ][Ġ ab]
    expect(encodePair(tok, 'aa  ', 'ab')).toEqual({ context: [1, 259], continuation: [35, 35, 260] });
    // A tab: whole "ab\tb" = "ab" | "\t" | "b"
    expect(encodePair(tok, 'ab\t', 'b')).toEqual({ context: [1, 260], continuation: [12, 101] });
  });

  it('takes the continuation as the tail of the whole encoding when a merge crosses the boundary', () => {
    // whole "aab" = [1, aa, b] = [1, 259, 101]; context "a" = [1, 100] (2 tokens) -> continuation = whole[2:] = [b].
    // Encoding the continuation "ab" alone would give [ab] = [260]: lm-eval does not do that.
    expect(encodePair(tok, 'a', 'ab')).toEqual({ context: [1, 100], continuation: [101] });
    // whole "aa" = [1, 259] is no longer than context "a" = [1, 100]: the continuation is empty.
    expect(encodePair(tok, 'a', 'a')).toEqual({ context: [1, 100], continuation: [] });
    // whole "aaab" = [1, aa, ab]; context "aa" = [1, aa] -> continuation [ab].
    expect(encodePair(tok, 'aa', 'ab')).toEqual({ context: [1, 259], continuation: [260] });
  });

  it('puts BOS once, at the start of the context', () => {
    // whole "ab aab" = [1][ab][Ġ aa b]
    const pair = encodePair(tok, 'ab', ' aab');
    expect(pair).toEqual({ context: [1, 260], continuation: [35, 259, 101] });
    expect([...pair.context, ...pair.continuation].filter((id) => id === 1)).toEqual([1]);
  });

  it('adds no BOS when the tokenizer does not', () => {
    expect(encodePair(noBos, 'aab ', 'ab')).toEqual({ context: [259, 101], continuation: [35, 260] });
  });

  it('adds no second BOS to a context that spells out "<s>" (lm-eval has_bos_prefix)', () => {
    // "<s>" in the text is the special token 1 already.
    expect(encodePair(tok, '<s>ab', ' ab')).toEqual({ context: [1, 260], continuation: [35, 260] });
  });

  it('uses BOS (else EOS) as the context of an empty context, as lm-eval loglikelihood does', () => {
    expect(encodePair(tok, '', 'ab')).toEqual({ context: [1], continuation: [260] });
    expect(encodePair(noBos, '', 'ab')).toEqual({ context: [1], continuation: [260] });
    expect(encodePair(tok, '', '')).toEqual({ context: [1], continuation: [] });
    // The continuation starts with BOS itself: that BOS becomes the context.
    expect(encodePair(tok, '', '<s>ab')).toEqual({ context: [1], continuation: [260] });

    // A tokenizer without <s>: EOS (2) stands in.
    const withoutBos = structuredClone(json);
    delete withoutBos.model.vocab['<s>'];
    withoutBos.added_tokens = withoutBos.added_tokens.filter((t) => t.content !== '<s>');
    withoutBos.post_processor = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    const eosOnly = tokenizerFromJson(withoutBos, { eos_token: '</s>' });
    expect(eosOnly.bosId).toBeUndefined();
    expect(eosOnly.addBos).toBe(false);
    expect(encodePair(eosOnly, '', 'ab')).toEqual({ context: [2], continuation: [260] });
  });

  it('uses BOS as the context when a whitespace-only context encodes to nothing', () => {
    // context "  " -> "" + continuation "  ab"; without BOS the context encodes to []. whole "  ab" = [Ġ][Ġ ab].
    expect(encodePair(noBos, '  ', 'ab')).toEqual({ context: [1], continuation: [35, 35, 260] });
    expect(encodePair(tok, '  ', 'ab')).toEqual({ context: [1], continuation: [35, 35, 260] });
  });

  it('errors when an empty context has neither BOS nor EOS to stand in', () => {
    const bare = structuredClone(json);
    for (const token of ['<s>', '</s>']) delete bare.model.vocab[token];
    bare.added_tokens = bare.added_tokens.filter((t) => t.content === '<unk>');
    const t = tokenizerFromJson(bare, { add_bos_token: false });
    let error: unknown;
    try {
      encodePair(t, '', 'ab');
    } catch (e) {
      error = e;
    }
    expect(isOptibenchError(error)).toBe(true);
  });
});

describe("Python's rstrip whitespace", () => {
  it("is exactly CPython's str.isspace() set", () => {
    // [hex(c) for c in range(0x110000) if chr(c).isspace()] on CPython 3.11:
    const python = [
      0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
      0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
    ];
    expect([...PYTHON_WHITESPACE].map((c) => c.charCodeAt(0)).sort((a, b) => a - b)).toEqual(python);
  });

  it('counts trailing whitespace as Python would, not as trimEnd', () => {
    expect(trailingWhitespaceLength('abc')).toBe(0);
    expect(trailingWhitespaceLength('ab c \t\n')).toBe(3);
    expect(trailingWhitespaceLength('x\u3000\u00a0')).toBe(2);
    expect(trailingWhitespaceLength('x\u001c\u0085')).toBe(2); // Python strips these, trimEnd() does not
    expect(trailingWhitespaceLength('x\ufeff')).toBe(0); // trimEnd() strips the BOM, Python does not
    expect(trailingWhitespaceLength('   ')).toBe(3);
    expect(trailingWhitespaceLength('')).toBe(0);
  });
});

describe('truncateLeft', () => {
  it('keeps everything when it fits in maxLength + 1', () => {
    expect(truncateLeft({ context: [1, 2, 3], continuation: [4, 5] }, 4)).toEqual({ context: [1, 2, 3], continuation: [4, 5] });
  });

  it('keeps the last maxLength + 1 tokens, cutting the context on the left', () => {
    // (ctx + cont)[-(4+1):] = [3, 4, 5, 6, 7]; the model sees [3, 4, 5, 6] (4 tokens) and predicts 6 and 7.
    expect(truncateLeft({ context: [1, 2, 3, 4, 5], continuation: [6, 7] }, 4)).toEqual({ context: [3, 4, 5], continuation: [6, 7] });
    expect(truncateLeft({ context: [1, 2, 3], continuation: [4, 5, 6] }, 3)).toEqual({ context: [3], continuation: [4, 5, 6] });
  });

  it('keeps only the tail of a continuation longer than maxLength + 1, with an empty context', () => {
    expect(truncateLeft({ context: [1, 2], continuation: [3, 4, 5, 6, 7] }, 3)).toEqual({ context: [], continuation: [4, 5, 6, 7] });
    expect(truncateLeft({ context: [1, 2], continuation: [3, 4, 5, 6] }, 3)).toEqual({ context: [], continuation: [3, 4, 5, 6] });
  });

  it('matches lm-eval slicing on a real pair and does not modify its input', () => {
    const pair = encodePair(tok, 'aab aab aab', ' ab ab');
    // [1, aa b, Ġ aa b, Ġ aa b] + [Ġ ab, Ġ ab]
    expect(pair).toEqual({ context: [1, 259, 101, 35, 259, 101, 35, 259, 101], continuation: [35, 260, 35, 260] });
    const cut = truncateLeft(pair, 5);
    expect([...cut.context, ...cut.continuation]).toEqual([...pair.context, ...pair.continuation].slice(-6));
    expect(cut).toEqual({ context: [259, 101], continuation: [35, 260, 35, 260] });
    expect(pair.context).toHaveLength(9);
  });

  it('rejects a maxLength that is not a positive integer', () => {
    expect(() => truncateLeft({ context: [], continuation: [] }, 0)).toThrow(RangeError);
    expect(() => truncateLeft({ context: [], continuation: [] }, 1.5)).toThrow(RangeError);
  });
});
