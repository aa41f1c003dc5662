import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { trainByteLevelBpe } from '../../src/tokenizers/byte-level-bpe.js';
import { loadTokenizer, tokenizerFromJson } from '../../src/tokenizers/tokenizer.js';

// Ids as worked out in byte-level-bpe.test.ts: <s> 1, </s> 2, aa 259, ab 260, b 101.
const json = trainByteLevelBpe('aaab aab ab', 100);

let base: string;
beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'optibench-tokenizer-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function modelDir(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(base, name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(path.join(dir, file), text);
  return dir;
}

/** The OptibenchError `promise` rejects with (fails the test if it resolves or throws something else). */
async function optibenchError(promise: Promise<unknown>): Promise<OptibenchError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OptibenchError);
  return error as OptibenchError;
}

/** The OptibenchError `fn` throws. */
function syncOptibenchError(fn: () => unknown): OptibenchError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(OptibenchError);
  return error as OptibenchError;
}

describe('loadTokenizer', () => {
  it('loads tokenizer.json and tokenizer_config.json', async () => {
    const dir = await modelDir('ok', {
      'tokenizer.json': JSON.stringify(json),
      'tokenizer_config.json': JSON.stringify({ add_bos_token: true, bos_token: { content: '<s>' }, eos_token: '</s>' }),
    });
    const tok = await loadTokenizer(dir);
    expect(tok.encode('aab ab')).toEqual([1, 259, 101, 35, 260]);
    expect(tok.bosToken).toBe('<s>');
    expect(tok.eosToken).toBe('</s>');
    expect(tok.decode([1, 259, 101, 35, 260, 2])).toBe('aab ab');
  });

  it('follows add_bos_token, and the caller override', async () => {
    const dir = await modelDir('no-bos', {
      'tokenizer.json': JSON.stringify(json),
      'tokenizer_config.json': JSON.stringify({ add_bos_token: false }),
    });
    const tok = await loadTokenizer(dir);
    expect(tok.addBos).toBe(false);
    expect(tok.bosId).toBe(1);
    expect(tok.encode('aab')).toEqual([259, 101]);
    expect((await loadTokenizer(dir, { addBos: true })).encode('aab')).toEqual([1, 259, 101]);
  });

  it('works without tokenizer_config.json', async () => {
    const tok = await loadTokenizer(await modelDir('json-only', { 'tokenizer.json': JSON.stringify(json) }));
    expect(tok.addBos).toBe(true);
    expect(tok.encode('ab')).toEqual([1, 260]);
  });

  it('names tokenizer.json when the directory does not exist', async () => {
    const dir = path.join(base, 'does-not-exist');
    const error = await optibenchError(loadTokenizer(dir));
    expect(error.location?.file).toBe(path.join(dir, 'tokenizer.json'));
    expect(error.message).toContain('does not exist');
  });

  it('names tokenizer.json when it is missing, mentioning tokenizer.model; reads a tokenizer.model instead', async () => {
    const empty = await modelDir('empty', {});
    const missing = await optibenchError(loadTokenizer(empty));
    expect(missing.location?.file).toBe(path.join(empty, 'tokenizer.json'));
    expect(missing.message).toContain('tokenizer.model');

    // Without tokenizer.json, tokenizer.model is what gets read: a broken one is named as the culprit.
    const sentencePiece = await modelDir('sp', { 'tokenizer.model': 'not really' });
    const error = await optibenchError(loadTokenizer(sentencePiece));
    expect(error.location?.file).toBe(path.join(sentencePiece, 'tokenizer.model'));
    expect(error.message).toMatch(/not a usable SentencePiece model/);
  });

  it('names tokenizer.json when it is not JSON, with the line', async () => {
    const dir = await modelDir('bad-json', { 'tokenizer.json': '{\n  "model": {\n    "type": "BPE",,\n' });
    const error = await optibenchError(loadTokenizer(dir));
    expect(error.location?.file).toBe(path.join(dir, 'tokenizer.json'));
    expect(error.message).toMatch(/invalid JSON/);
    expect(error.location?.line).toBe(3);
    expect(error.oneLine()).toContain('tokenizer.json');
  });

  it('names tokenizer_config.json when it is not JSON', async () => {
    const dir = await modelDir('bad-config', { 'tokenizer.json': JSON.stringify(json), 'tokenizer_config.json': '{"add_bos_token": tru' });
    expect((await optibenchError(loadTokenizer(dir))).location?.file).toBe(path.join(dir, 'tokenizer_config.json'));
  });

  it('names tokenizer.json when it is a directory', async () => {
    const dir = await modelDir('dir-json', {});
    await mkdir(path.join(dir, 'tokenizer.json'));
    expect((await optibenchError(loadTokenizer(dir))).location?.file).toBe(path.join(dir, 'tokenizer.json'));
  });

  it('names tokenizer.json when the library rejects it', async () => {
    for (const [name, content] of [
      ['array', []],
      ['no-model', { added_tokens: [] }],
      ['unknown-model', { model: { type: 'Nope' } }],
      ['bad-pretokenizer', { ...json, pre_tokenizer: { type: 'NoSuchPreTokenizer' } }],
    ] as const) {
      const dir = await modelDir(`rejected-${name}`, { 'tokenizer.json': JSON.stringify(content) });
      const error = await optibenchError(loadTokenizer(dir));
      expect(error.location?.file, name).toBe(path.join(dir, 'tokenizer.json'));
    }
  });

  it('names tokenizer_config.json and the key for a bos_token not in the vocabulary', async () => {
    const dir = await modelDir('bad-bos', {
      'tokenizer.json': JSON.stringify(json),
      'tokenizer_config.json': JSON.stringify({ bos_token: '<|begin_of_text|>' }),
    });
    const error = await optibenchError(loadTokenizer(dir));
    expect(error.location).toEqual({ file: path.join(dir, 'tokenizer_config.json'), key: 'bos_token' });
  });

  it('rejects add_bos_token that is not a boolean', async () => {
    const dir = await modelDir('bad-add-bos', {
      'tokenizer.json': JSON.stringify(json),
      'tokenizer_config.json': JSON.stringify({ add_bos_token: 'yes' }),
    });
    expect((await optibenchError(loadTokenizer(dir))).location?.key).toBe('add_bos_token');
  });
});

describe('tokenizerFromJson: BOS default', () => {
  it('adds BOS when the post-processor would (TemplateProcessing with <s> first)', () => {
    expect(tokenizerFromJson(json).addBos).toBe(true);
  });

  it('adds BOS when there is no post-processor and the tokenizer has <s>', () => {
    expect(tokenizerFromJson({ ...json, post_processor: null }).addBos).toBe(true);
  });

  it('adds no BOS when the post-processor adds none (GPT-2 style ByteLevel)', () => {
    const tok = tokenizerFromJson({ ...json, post_processor: { type: 'ByteLevel', trim_offsets: false } }, { bos_token: '<s>' });
    expect(tok.addBos).toBe(false);
    expect(tok.encode('ab')).toEqual([260]);
  });

  it('never lets the post-processor add tokens itself', () => {
    // A post-processor that would append </s>: encode must still give BOS + text only.
    const withEos = {
      ...json,
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        pair: [],
        special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
      },
    };
    expect(tokenizerFromJson(withEos).encode('ab')).toEqual([1, 260]);
  });

  it('errors when add_bos_token is true but there is no BOS token', () => {
    const withoutBos = structuredClone(json);
    delete withoutBos.model.vocab['<s>'];
    withoutBos.added_tokens = withoutBos.added_tokens.filter((t) => t.content !== '<s>');
    const error = syncOptibenchError(() => tokenizerFromJson(withoutBos, { add_bos_token: true }, 'x/tokenizer.json', { configSource: 'x/tokenizer_config.json' }));
    expect(error.location).toEqual({ file: 'x/tokenizer_config.json', key: 'add_bos_token' });
  });
});

describe('decode', () => {
  const tok = tokenizerFromJson(json);
  it('rejects ids outside the vocabulary', () => {
    expect(() => tok.decode([261])).toThrow(RangeError);
    expect(() => tok.decode([-1])).toThrow(RangeError);
    expect(() => tok.decode([1.5])).toThrow(RangeError);
  });
});

describe('tokenizerFromJson: special tokens from the config', () => {
  it('takes bos_token/eos_token as strings or {content} objects, and null as none', () => {
    const tok = tokenizerFromJson(json, { bos_token: { content: '</s>', lstrip: false }, eos_token: '<unk>', add_bos_token: true });
    expect([tok.bosId, tok.eosId]).toEqual([2, 0]);
    expect(tok.encode('ab')).toEqual([2, 260]);
    const none = tokenizerFromJson(json, { bos_token: null, eos_token: null });
    expect([none.bosId, none.eosId, none.addBos]).toEqual([undefined, undefined, false]);
  });

  it('finds <s> and </s> without a config', () => {
    const tok = tokenizerFromJson(json);
    expect([tok.bosToken, tok.bosId, tok.eosToken, tok.eosId]).toEqual(['<s>', 1, '</s>', 2]);
  });
});
