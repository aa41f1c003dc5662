/**
 * The LLaMA tokenizer read from SentencePiece's tokenizer.model, against Python's sentencepiece (Debian's
 * python3-sentencepiece) as the independent reference: the parsed model, the ids of every HellaSwag string,
 * edge cases, decoding, models trained by sentencepiece itself, and broken files.
 */
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { hellaswagTask } from '../../src/tasks/hellaswag/index.js';
import { encodePair } from '../../src/tokenizers/encode-pair.js';
import { sentencePieceToTokenizerJson } from '../../src/tokenizers/sentencepiece-convert.js';
import { PieceType, parseSentencePieceModel, readSentencePieceModel } from '../../src/tokenizers/sentencepiece-model.js';
import { loadTokenizer, tokenizerFromJson, type TextTokenizer } from '../../src/tokenizers/tokenizer.js';
import { pythonJson, runPython } from '../helpers/python.js';
import { HELLASWAG_FULL, LLAMA_TOKENIZER_MODEL, REPO_ROOT, sharedFile } from '../helpers/shared.js';

const REFERENCE = path.join(REPO_ROOT, 'src/tokenizers/sentencepiece_reference.py');

function sentencepieceIds(modelFile: string, strings: readonly string[]): number[][] {
  return (JSON.parse(runPython([REFERENCE, modelFile], JSON.stringify({ strings }))) as { ids: number[][] }).ids;
}

async function converted(modelFile: string, addBos = false): Promise<TextTokenizer> {
  const result = sentencePieceToTokenizerJson(await readSentencePieceModel(modelFile), modelFile);
  return tokenizerFromJson(result.tokenizerJson, result.tokenizerConfig, modelFile, { addBos });
}

let llamaModel: string;
let llama: TextTokenizer;
let work: string;

beforeAll(async () => {
  llamaModel = sharedFile(LLAMA_TOKENIZER_MODEL);
  llama = await converted(llamaModel);
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-sp-'));
});

describe('reading tokenizer.model', () => {
  it('gives every piece, score and type, and the special ids, as sentencepiece reads them', async () => {
    const model = await readSentencePieceModel(llamaModel);
    const reference = pythonJson<{ pieces: [string, number, string][]; bos: number; eos: number; unk: number }>(`
import json, sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=${JSON.stringify(llamaModel)})
def kind(i):
    if sp.is_unknown(i): return 'UNKNOWN'
    if sp.is_control(i): return 'CONTROL'
    if sp.is_byte(i): return 'BYTE'
    if sp.is_unused(i): return 'UNUSED'
    return 'NORMAL'
print(json.dumps({'pieces': [[sp.id_to_piece(i), sp.get_score(i), kind(i)] for i in range(sp.get_piece_size())],
                  'bos': sp.bos_id(), 'eos': sp.eos_id(), 'unk': sp.unk_id()}))`);
    const typeName = (t: number) => Object.entries(PieceType).find(([, v]) => v === t)![0];
    expect(model.pieces).toHaveLength(32_000);
    expect(model.pieces.map((p) => [p.piece, p.score, typeName(p.type)])).toEqual(reference.pieces);
    expect([model.trainer.bosId, model.trainer.eosId, model.trainer.unkId]).toEqual([reference.bos, reference.eos, reference.unk]);
    expect(model.trainer.byteFallback).toBe(true);
    // LLaMA keeps whitespace as it is: the field is sent as false although its proto2 default is true.
    expect(model.normalizer).toMatchObject({ name: 'identity', addDummyPrefix: true, removeExtraWhitespaces: false });
  });

  it('matches the reference figure in ../shared/README.md', () => {
    expect(llama.encode('Roof shingle removal: A man is sitting on a roof. he is using wrap')).toEqual([
      1528, 974, 528, 292, 280, 28744, 29901, 319, 767, 338, 16246, 373, 263, 17526, 29889, 540, 338, 773, 12244,
    ]);
  });
});

describe('every HellaSwag string', () => {
  it('gets exactly the ids sentencepiece gives: contexts, " " + endings, and the joined strings', async () => {
    const docs = await hellaswagTask.load(sharedFile(HELLASWAG_FULL));
    const strings: string[] = [];
    for (const doc of docs) {
      strings.push(doc.query);
      for (const choice of doc.choices) strings.push(` ${choice}`, `${doc.query} ${choice}`);
    }
    const expected = sentencepieceIds(llamaModel, strings);
    const different = strings.filter((s, i) => JSON.stringify(llama.encode(s)) !== JSON.stringify(expected[i]));
    const compared = { contexts: docs.length, continuations: docs.length * 4, joined: docs.length * 4, total: strings.length };
    console.log(`sentencepiece parity: ${strings.length - different.length} of ${strings.length} strings identical`, compared);
    expect(compared).toEqual({ contexts: 10_042, continuations: 40_168, joined: 40_168, total: 90_378 });
    expect(different.slice(0, 5)).toEqual([]);
  }, 300_000);
});

const EDGE_CASES = [
  '',
  ' ',
  '   ',
  '\n',
  '\n\n',
  'a\n b',
  '  leading spaces',
  'trailing spaces  ',
  'multiple   inner     spaces',
  `${' '.repeat(17)}seventeen spaces, more than the longest whitespace piece`,
  'tabs\tand\ttabs',
  'digits 1234567890 and 3.14159',
  'accents: café naïve Ångström façade',
  'CJK: 日本語の文章と中文',
  'emoji: 😀👍🏽 👨‍👩‍👧 🏳️‍🌈',
  'combining e\u0301 and precomposed é',
  '<s> and </s> and <unk> typed as text',
  'the ▁ symbol itself',
  '\u00a0no-break space and zero\u200bwidth',
  'control \u0001 character',
  'pneumonoultramicroscopicsilicovolcanoconiosis',
];

describe('edge cases', () => {
  it('encode as sentencepiece encodes them', () => {
    const expected = sentencepieceIds(llamaModel, EDGE_CASES);
    EDGE_CASES.forEach((text, i) => expect([text, llama.encode(text)]).toEqual([text, expected[i]]));
    // Byte fallback really happens: the emoji and the control character are spelled in <0xNN> pieces.
    // <0x00> is id 3, so byte 0x01 is id 4.
    expect(llama.encode('\u0001')).toEqual([29871, 4]);
  });

  it('decode back to the text, as sentencepiece decodes', () => {
    const expected = pythonJson<string[]>(`
import json, sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=${JSON.stringify(llamaModel)})
print(json.dumps([sp.decode(sp.encode(s)) for s in json.loads(${JSON.stringify(JSON.stringify(EDGE_CASES))})]))`);
    EDGE_CASES.forEach((text, i) => {
      expect(llama.decode(llama.encode(text))).toBe(expected[i]);
      // Lossless, except for "▁" itself, which SentencePiece too decodes as a space.
      if (!text.includes('\u2581')) expect(llama.decode(llama.encode(text))).toBe(text);
    });
  });

  it('adds BOS once, and lm-eval\'s context/continuation split takes the tail of the whole', async () => {
    const withBos = await converted(llamaModel, true);
    const context = 'Roof shingle removal: A man is sitting on a roof. He';
    const continuation = ' is using wrap to wrap a pair of skis.';
    const pair = encodePair(withBos, context, continuation);
    const [whole, contextOnly] = sentencepieceIds(llamaModel, [context + continuation, context]);
    expect(pair.context).toEqual([1, ...contextOnly!]);
    expect([...pair.context, ...pair.continuation]).toEqual([1, ...whole!]);
    expect(pair.continuation).toEqual(whole!.slice(contextOnly!.length));
  });
});

describe('models trained by sentencepiece itself', () => {
  // Small BPE models trained here by the reference implementation, with the options that change how text is
  // split: the conversion must reproduce each one, not just LLaMA.
  const common = "normalization_rule_name='identity', remove_extra_whitespaces=False";
  const variants: Record<string, string> = {
    'llama-like': `${common}, byte_fallback=True, allow_whitespace_only_pieces=True, split_digits=True`,
    'no-whitespace-runs': `${common}, byte_fallback=True, allow_whitespace_only_pieces=False`,
    'no-byte-fallback': `${common}, byte_fallback=False, character_coverage=0.98`,
  };

  it.each(Object.keys(variants))('%s', async (name) => {
    const docs = (await hellaswagTask.load(sharedFile(HELLASWAG_FULL))).slice(0, 1500);
    const corpus = path.join(work, `${name}.txt`);
    await writeFile(corpus, docs.flatMap((d) => [d.query, ...d.choices]).join('\n'));
    const prefix = path.join(work, name);
    runPython([
      '-c',
      `import sentencepiece as spm
spm.SentencePieceTrainer.train(input=${JSON.stringify(corpus)}, model_prefix=${JSON.stringify(prefix)}, model_type='bpe',
  vocab_size=1200, minloglevel=2, num_threads=1, ${variants[name]})`,
    ]);
    const tokenizer = await converted(`${prefix}.model`);
    const samples = [...EDGE_CASES, ...docs.slice(1000, 1300).flatMap((d) => [d.query, ` ${d.choices[0]}`])];
    const expected = sentencepieceIds(`${prefix}.model`, samples);
    const different = samples.filter((s, i) => JSON.stringify(tokenizer.encode(s)) !== JSON.stringify(expected[i]));
    expect(different).toEqual([]);
  }, 120_000);
});

describe('broken or unsupported files', () => {
  async function refused(bytes: Uint8Array | string, pattern: RegExp): Promise<void> {
    const file = path.join(work, `bad-${Math.random().toString(36).slice(2)}.model`);
    await writeFile(file, bytes);
    const error = await readSentencePieceModel(file)
      .then((model) => sentencePieceToTokenizerJson(model, file))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OptibenchError);
    expect((error as OptibenchError).location?.file).toBe(file);
    expect((error as OptibenchError).message).toMatch(pattern);
  }

  it('refuses an empty file, garbage and text', async () => {
    await refused(new Uint8Array(), /holds no pieces/);
    await refused(Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251), /corrupt or truncated protobuf|no trainer spec|holds no pieces|has no text|unknown type/);
    await refused('{"model": {"type": "BPE"}}\n', /corrupt or truncated protobuf|holds no pieces|no trainer spec/);
  });

  it('refuses the LLaMA model cut short anywhere', async () => {
    const bytes = await readFile(llamaModel);
    for (const fraction of [0.01, 0.25, 0.5, 0.9, 0.999]) {
      await refused(bytes.subarray(0, Math.floor(bytes.length * fraction)), /truncated/);
    }
    await refused(bytes.subarray(0, bytes.length - 1), /truncated/);
  });

  it('refuses a missing file with its name', async () => {
    const error = await readSentencePieceModel(path.join(work, 'nope.model')).catch((e: unknown) => e);
    expect((error as OptibenchError).oneLine()).toBe(`${path.join(work, 'nope.model')}: SentencePiece model does not exist`);
  });

  it('refuses a unigram model and an NFKC-normalizing one, naming what is supported', async () => {
    const docs = (await hellaswagTask.load(sharedFile(HELLASWAG_FULL))).slice(0, 300);
    const corpus = path.join(work, 'small.txt');
    await writeFile(corpus, docs.map((d) => d.query).join('\n'));
    const train = (name: string, options: string) => {
      const prefix = path.join(work, name);
      runPython(['-c', `import sentencepiece as spm
spm.SentencePieceTrainer.train(input=${JSON.stringify(corpus)}, model_prefix=${JSON.stringify(prefix)}, vocab_size=300, minloglevel=2, ${options})`]);
      return readFile(`${prefix}.model`);
    };
    await refused(await train('unigram', "model_type='unigram'"), /model type UNIGRAM \(only BPE, as LLaMA uses, is supported\)/);
    await refused(await train('nfkc', "model_type='bpe'"), /normalizer "nmt_nfkc" \(only "identity", as LLaMA uses, is supported\)/);
    await refused(
      await train('user-symbols', "model_type='bpe', normalization_rule_name='identity', remove_extra_whitespaces=False, user_defined_symbols=['<sep>']"),
      /it has 1 user-defined pieces \("<sep>"/,
    );
  });

  it('is what a model directory with only tokenizer.model loads', async () => {
    const modelDir = await mkdtemp(path.join(work, 'only-sp-'));
    await writeFile(path.join(modelDir, 'tokenizer.model'), await readFile(llamaModel));
    const tokenizer = await loadTokenizer(modelDir);
    expect(tokenizer.addBos).toBe(true);
    expect(tokenizer.encode('Hello world')).toEqual([1, ...sentencepieceIds(llamaModel, ['Hello world'])[0]!]);
  });

  it('parses from memory as from a file', async () => {
    const bytes = await readFile(llamaModel);
    expect(parseSentencePieceModel(bytes, 'mem').pieces).toHaveLength(32_000);
  });
});
