import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BYTE_TO_CHAR, trainByteLevelBpe, writeByteLevelTokenizer } from '../../src/tokenizers/byte-level-bpe.js';
import { loadTokenizer, tokenizerFromJson } from '../../src/tokenizers/tokenizer.js';

/*
 * Hand-worked reference for the corpus "aaab aab ab".
 *
 * Ids: <unk> 0, <s> 1, </s> 2; byte b has id 3 + b, so "a" (0x61) = 100, "b" (0x62) = 101, and the space
 * (0x20, written "Ġ" U+0120 in GPT-2's byte alphabet) = 35. Merges get 259, 260, ...
 *
 * GPT-2 pre-tokenization: "aaab" | " aab" | " ab"  ->  words [a a a b], [Ġ a a b], [Ġ a b], once each.
 * Round 1 pair counts: (a,a) = 2 (in aaab) + 1 (in Ġaab) = 3; (a,b) = 1 + 1 + 1 = 3; (Ġ,a) = 2.
 *   Tie at 3; ("a","a") < ("a","b") -> merge 1 = "a a" -> "aa" = 259.
 *   Words (left to right, no overlap): [aa a b], [Ġ aa b], [Ġ a b].
 * Round 2: (aa,a) 1, (a,b) 1 + 1 = 2, (Ġ,aa) 1, (aa,b) 1, (Ġ,a) 1 -> merge 2 = "a b" -> "ab" = 260.
 *   Words: [aa ab], [Ġ aa b], [Ġ ab].
 * Round 3: every pair occurs once -> stop. Exactly 2 merges, vocabulary of 261.
 *
 * Encoding (BOS first; merges applied by rank, leftmost first):
 *   "aaab" -> a a a b -> aa a b -> aa ab         -> [1, 259, 260]
 *   "aab"  -> a a b   -> aa b (rank 0 beats ab)  -> [1, 259, 101]
 *   " aab" -> Ġ a a b -> Ġ aa b                  -> [1, 35, 259, 101]
 *   "aaaa" -> a a a a -> aa a a -> aa aa         -> [1, 259, 259]
 *   "abab" -> ab ab                              -> [1, 260, 260]
 *   "ba"   -> b a (no merge)                     -> [1, 101, 100]
 *   "c"    -> byte 0x63                          -> [1, 102]
 */
const TINY = 'aaab aab ab';

/*
 * Second hand-worked corpus, "é é é" (multi-byte): é = C3 A9 = "Ã" (0xC3, printable, id 198) "©" (0xA9, id 172).
 * Words: [Ã ©] once, [Ġ Ã ©] twice. Round 1: (Ã,©) 3, (Ġ,Ã) 2 -> "Ã©" = 259. Round 2: (Ġ,Ã©) 2 -> "ĠÃ©" = 260.
 *   "é"  -> [1, 259];  " é" -> [1, 260];  "éé" (one word) -> [1, 259, 259]
 *   "è" = C3 A8 = "Ã" "¨" (0xA8, id 171), never merged -> [1, 198, 171]
 *
 * Third, the tie-break "ab ab ba ba": words [a b], [Ġ a b], [Ġ b a] x2.
 * Round 1: (a,b) 2, (Ġ,a) 1, (Ġ,b) 2, (b,a) 2: ties at 2; "a" < "b" < "Ġ" (U+0120) -> "a b".
 * Round 2: [ab], [Ġ ab], [Ġ b a] x2: (Ġ,ab) 1, (Ġ,b) 2, (b,a) 2 -> ("b","a") < ("Ġ","b") -> "b a".
 * Round 3: [Ġ ba] x2 -> (Ġ,ba) 2 -> "Ġ ba". Round 4: only (Ġ,ab) once -> stop.
 */

describe('trainByteLevelBpe: hand-worked corpora', () => {
  it('learns the merges worked out by hand for "aaab aab ab"', () => {
    const json = trainByteLevelBpe(TINY, 100);
    expect(json.model.merges).toEqual(['a a', 'a b']);
    expect(json.model.vocab.aa).toBe(259);
    expect(json.model.vocab.ab).toBe(260);
    expect(Object.keys(json.model.vocab)).toHaveLength(261);
  });

  it('stops at numMerges', () => {
    expect(trainByteLevelBpe(TINY, 1).model.merges).toEqual(['a a']);
    expect(trainByteLevelBpe(TINY, 0).model.merges).toEqual([]);
  });

  it('breaks ties by the pair strings', () => {
    expect(trainByteLevelBpe('ab ab ba ba', 100).model.merges).toEqual(['a b', 'b a', 'Ġ ba']);
  });

  it('gives the hand-worked ids through the library', () => {
    const tok = tokenizerFromJson(trainByteLevelBpe(TINY, 100));
    expect(tok.addBos).toBe(true);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    expect(tok.vocabSize).toBe(261);
    expect(tok.encode('aaab')).toEqual([1, 259, 260]);
    expect(tok.encode('aab')).toEqual([1, 259, 101]);
    expect(tok.encode(' aab')).toEqual([1, 35, 259, 101]);
    expect(tok.encode('aaaa')).toEqual([1, 259, 259]);
    expect(tok.encode('abab')).toEqual([1, 260, 260]);
    expect(tok.encode('ba')).toEqual([1, 101, 100]);
    expect(tok.encode('c')).toEqual([1, 102]);
    expect(tok.encode('')).toEqual([1]);
  });

  it('handles multi-byte characters as worked out by hand', () => {
    const json = trainByteLevelBpe('é é é', 100);
    expect(json.model.merges).toEqual(['Ã ©', 'Ġ Ã©']);
    const tok = tokenizerFromJson(json);
    expect(tok.encode('é')).toEqual([1, 259]);
    expect(tok.encode(' é')).toEqual([1, 260]);
    expect(tok.encode('éé')).toEqual([1, 259, 259]);
    expect(tok.encode('è')).toEqual([1, 198, 171]);
  });
});

describe('trainByteLevelBpe: file layout', () => {
  const json = trainByteLevelBpe(TINY, 100);

  it('puts LLaMA special tokens at 0..2 and marks them special', () => {
    expect(json.model.vocab['<unk>']).toBe(0);
    expect(json.model.vocab['<s>']).toBe(1);
    expect(json.model.vocab['</s>']).toBe(2);
    expect(json.added_tokens.map((t) => [t.id, t.content, t.special])).toEqual([
      [0, '<unk>', true],
      [1, '<s>', true],
      [2, '</s>', true],
    ]);
  });

  it("puts the 256 bytes at 3..258 in GPT-2's alphabet", () => {
    // Known points of GPT-2's bytes_to_unicode: 0x00 -> Ā (U+0100), \n -> Ċ, space -> Ġ, 0x7F -> ġ,
    // 0xA0 -> ł (U+0142), 0xAD -> Ń (U+0143), printable bytes stand for themselves.
    const expected: [number, string][] = [
      [0x00, 'Ā'],
      [0x0a, 'Ċ'],
      [0x20, 'Ġ'],
      [0x21, '!'],
      [0x41, 'A'],
      [0x7e, '~'],
      [0x7f, 'ġ'],
      [0xa0, 'ł'],
      [0xa1, '¡'],
      [0xad, 'Ń'],
      [0xff, 'ÿ'],
    ];
    for (const [byte, char] of expected) {
      expect(BYTE_TO_CHAR[byte]).toBe(char);
      expect(json.model.vocab[char]).toBe(3 + byte);
    }
    expect(new Set(BYTE_TO_CHAR).size).toBe(256);
    const ids = Object.values(json.model.vocab).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 261 }, (_, i) => i));
  });

  it('uses the ByteLevel pre-tokenizer and decoder and a BPE model', () => {
    expect(json.pre_tokenizer).toMatchObject({ type: 'ByteLevel', add_prefix_space: false, use_regex: true });
    expect(json.decoder.type).toBe('ByteLevel');
    expect(json.model.type).toBe('BPE');
  });
});

const CORPUS = [
  'A man is sitting on a roof. He is using wrap to wrap a pair of skis.',
  "The woman doesn't stop: she's running, then jumping over the hurdles!",
  'Numbers like 1234 and 3.14 appear; so do café, naïve and Zürich.',
  '日本語の文章もあります。Emoji too: 🎉👍.',
  'Tabs\tand  double  spaces\nand new lines.\n',
].join('\n');

describe('round trip through the library', () => {
  const tok = tokenizerFromJson(trainByteLevelBpe(CORPUS.repeat(3), 300));
  const texts = [
    '',
    ' ',
    'a',
    'Hello world',
    'héllo wörld, ça va? Ærøskøbing',
    '中文字符和日本語のテキスト',
    '👩‍👩‍👧 family, 🎉 party, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
    'line one\nline two\r\n\n\nend\n',
    'multiple     spaces   and trailing   ',
    '\t\ttabs\tand\u00a0no-break\u3000ideographic space',
    "it's don't I'll we've ,.;:!? <> {} [] \\ / ~",
    'text with <s> and </s> written out',
  ];
  for (const text of texts) {
    it(`round-trips ${JSON.stringify(text)}`, () => {
      const ids = tok.encode(text);
      expect(ids[0]).toBe(1);
      expect(tok.decode(ids)).toBe(text.replaceAll('<s>', '').replaceAll('</s>', ''));
    });
  }

  it('decodes an empty list to an empty string and skips special tokens', () => {
    expect(tok.decode([])).toBe('');
    expect(tok.decode([1, 2, 0])).toBe('');
  });
});

describe('determinism', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('writes byte-identical files for the same corpus', async () => {
    const base = await mkdtemp(path.join(tmpdir(), 'optibench-bpe-'));
    dirs.push(base);
    const a = await writeByteLevelTokenizer(path.join(base, 'a'), CORPUS, 200);
    const b = await writeByteLevelTokenizer(path.join(base, 'b', 'nested'), CORPUS, 200);
    expect(await readFile(a.tokenizerPath)).toEqual(await readFile(b.tokenizerPath));
    expect(await readFile(a.configPath)).toEqual(await readFile(b.configPath));

    const config = JSON.parse(await readFile(a.configPath, 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ add_bos_token: true, bos_token: '<s>', eos_token: '</s>', model_max_length: 2048 });

    const tok = await loadTokenizer(path.join(base, 'a'));
    expect(tok.addBos).toBe(true);
    expect(tok.decode(tok.encode(CORPUS))).toBe(CORPUS);
  });

  it('trains the same merges twice in one process', () => {
    expect(JSON.stringify(trainByteLevelBpe(CORPUS, 150))).toBe(JSON.stringify(trainByteLevelBpe(CORPUS, 150)));
  });
});

describe('the library applies merges as training did', () => {
  // Reference: BPE by definition, applying each merge in turn to the whole word, left to right. For a
  // correct tokenizer, ranking merges (what the library does) must give the same tokens.
  function referenceEncode(json: ReturnType<typeof trainByteLevelBpe>, text: string): number[] {
    const words = text.match(/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu) ?? [];
    const merges = json.model.merges.map((m) => m.split(' ') as [string, string]);
    const ids: number[] = [1];
    for (const word of words) {
      let symbols = Array.from(new TextEncoder().encode(word), (b) => BYTE_TO_CHAR[b] as string);
      for (const [left, right] of merges) {
        const next: string[] = [];
        for (let i = 0; i < symbols.length; i++) {
          if (symbols[i] === left && symbols[i + 1] === right) {
            next.push(left + right);
            i++;
          } else next.push(symbols[i] as string);
        }
        symbols = next;
      }
      ids.push(...symbols.map((s) => json.model.vocab[s] as number));
    }
    return ids;
  }

  it('on the training corpus and on unseen text', () => {
    const json = trainByteLevelBpe(CORPUS, 400);
    const tok = tokenizerFromJson(json);
    const unseen = 'Someone is wrapping skis on the roof; 42 runners jump. Über-naïve café owners aren’t amused 🎉🎉.';
    for (const text of [CORPUS, unseen, CORPUS.toUpperCase()]) expect(tok.encode(text)).toEqual(referenceEncode(json, text));
  });
});
