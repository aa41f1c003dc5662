/**
 * The tokenizer the rest of optibench uses, and the loader for Hugging Face `tokenizer.json` files.
 *
 * Every tokenizer is built by {@link tokenizerFromJson} from an in-memory `tokenizer.json` object and run
 * by `@huggingface/tokenizers` (pure JS). Other formats (SentencePiece `tokenizer.model`) are to be
 * converted into that same JSON first, so there is one construction path and one runtime.
 *
 * Special tokens: the library is always called with `add_special_tokens: false`, and BOS is prepended here
 * when {@link TextTokenizer.addBos} says so. What a file's `post_processor` would add therefore never
 * reaches the ids; it only informs the *default* of `addBos` when `tokenizer_config.json` is silent (see
 * {@link resolveAddBos}). Special tokens written literally in the text (`"<s>"`) are still recognised as
 * special tokens, as Hugging Face tokenizers do by default.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { OptibenchError } from '../core/errors.js';
import { sentencePieceToTokenizerJson } from './sentencepiece-convert.js';
import { readSentencePieceModel } from './sentencepiece-model.js';

export interface TextTokenizer {
  /** Number of ids the tokenizer can produce: the largest id in the vocabulary (added tokens included) + 1. */
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  /** The BOS token's text (`"<s>"` for LLaMA), when the tokenizer has one. */
  readonly bosToken: string | undefined;
  /** The EOS token's text (`"</s>"` for LLaMA), when the tokenizer has one. */
  readonly eosToken: string | undefined;
  /** Whether `encode` prepends BOS (LLaMA models expect it). */
  readonly addBos: boolean;
  /** Token ids of `text`: BOS first when `addBos`, no other special tokens added. */
  encode(text: string): number[];
  /** The text of `ids`, skipping special tokens, with no clean-up of spaces (so it inverts `encode`). */
  decode(ids: readonly number[]): string;
}

export interface TokenizerOptions {
  /**
   * Overrides whether BOS is prepended, as lm-evaluation-harness's `add_bos_token` model argument does.
   * Left out, `tokenizer_config.json` decides (see `resolveAddBos`).
   */
  addBos?: boolean;
  /** The name errors about the config give (`loadTokenizer` passes the path of `tokenizer_config.json`). */
  configSource?: string;
}

export const TOKENIZER_JSON = 'tokenizer.json';
export const TOKENIZER_CONFIG_JSON = 'tokenizer_config.json';
export const SENTENCEPIECE_MODEL = 'tokenizer.model';

/**
 * Loads `<modelDir>/tokenizer.json` (or, when there is none, converts SentencePiece's `tokenizer.model`) and,
 * when present, `<modelDir>/tokenizer_config.json`.
 * Every failure a user can fix (missing directory or file, invalid JSON, a file the library rejects, a
 * `bos_token` that is not in the vocabulary, ...) is an {@link OptibenchError} naming the file.
 */
export async function loadTokenizer(modelDir: string, options: TokenizerOptions = {}): Promise<TextTokenizer> {
  const tokenizerPath = path.join(modelDir, TOKENIZER_JSON);
  const configPath = path.join(modelDir, TOKENIZER_CONFIG_JSON);

  const configText = await readTextFile(configPath);
  const config = configText === undefined ? undefined : parseJson(configText, configPath);
  const withConfigSource = { ...options, configSource: options.configSource ?? configPath };

  const tokenizerText = await readTextFile(tokenizerPath);
  if (tokenizerText === undefined) {
    // Meta's original checkpoints carry only SentencePiece's tokenizer.model: convert it in memory.
    const sentencePiecePath = path.join(modelDir, SENTENCEPIECE_MODEL);
    if (await exists(sentencePiecePath)) {
      const converted = sentencePieceToTokenizerJson(await readSentencePieceModel(sentencePiecePath), sentencePiecePath);
      return tokenizerFromJson(converted.tokenizerJson, config ?? converted.tokenizerConfig, sentencePiecePath, withConfigSource);
    }
    const why = (await exists(modelDir))
      ? `${modelDir} has neither ${TOKENIZER_JSON} nor a SentencePiece ${SENTENCEPIECE_MODEL}`
      : `the model directory ${modelDir} does not exist`;
    throw new OptibenchError(`tokenizer not found: ${why}`, { file: tokenizerPath });
  }
  return tokenizerFromJson(parseJson(tokenizerText, tokenizerPath), config, tokenizerPath, withConfigSource);
}

/**
 * Builds a tokenizer from a parsed `tokenizer.json` (`json`) and optional parsed `tokenizer_config.json`
 * (`config`). `source` names the tokenizer.json in errors. This is the only construction path.
 */
export function tokenizerFromJson(
  json: unknown,
  config?: unknown,
  source: string = TOKENIZER_JSON,
  options: TokenizerOptions = {},
): TextTokenizer {
  const configSource = options.configSource ?? TOKENIZER_CONFIG_JSON;
  if (!isRecord(json)) throw new OptibenchError('not a tokenizer.json: the file must hold a JSON object', { file: source });
  if (!isRecord(json.model)) {
    throw new OptibenchError('not a tokenizer.json: it has no "model" object', { file: source, key: 'model' });
  }
  if (config !== undefined && config !== null && !isRecord(config)) {
    throw new OptibenchError('the file must hold a JSON object', { file: configSource });
  }
  const cfg: Record<string, unknown> = isRecord(config) ? config : {};

  // The library requires these keys to be present (null is allowed) and iterates `added_tokens`.
  const libraryJson = {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...json,
    added_tokens: json.added_tokens ?? [],
  };
  if (!Array.isArray(libraryJson.added_tokens)) {
    throw new OptibenchError('"added_tokens" must be a list', { file: source, key: 'added_tokens' });
  }
  const libraryConfig = flattenTokenFields(cfg, configSource);

  let library: Tokenizer;
  try {
    library = new Tokenizer(libraryJson, libraryConfig);
    // Some problems (a bad regex, a broken vocabulary) only show when text goes through.
    library.encode('Hello, world! 123', { add_special_tokens: false });
  } catch (error) {
    throw new OptibenchError(`the tokenizer library rejected this tokenizer: ${errorMessage(error)}`, { file: source }, {
      cause: error,
    });
  }

  const vocab = library.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const vocabSize = maxId + 1;
  if (vocabSize <= 0) throw new OptibenchError('the tokenizer has an empty vocabulary', { file: source, key: 'model.vocab' });

  const lookUp = (token: string | undefined, key: string): number | undefined => {
    if (token === undefined) return undefined;
    const id = library.token_to_id(token);
    if (id === undefined) {
      throw new OptibenchError(`${key} ${JSON.stringify(token)} is not in the tokenizer's vocabulary`, {
        file: configSource,
        key,
      });
    }
    return id;
  };

  // The config decides (`null` there means none); without an entry: the token the file's post-processor
  // starts with, else LLaMA's names if the vocabulary has them.
  const bosToken =
    'bos_token' in cfg
      ? tokenText(cfg.bos_token, 'bos_token', configSource)
      : (ifInVocab(leadingTemplateToken(json.post_processor)) ?? ifInVocab('<s>'));
  const eosToken = 'eos_token' in cfg ? tokenText(cfg.eos_token, 'eos_token', configSource) : ifInVocab('</s>');
  const bosId = lookUp(bosToken, 'bos_token');
  const eosId = lookUp(eosToken, 'eos_token');
  const addBos = resolveAddBos(options.addBos, cfg.add_bos_token, json.post_processor, bosId, library, configSource);
  if (addBos && bosId === undefined) {
    throw new OptibenchError('add_bos_token is true but the tokenizer has no BOS token (set bos_token)', {
      file: configSource,
      key: 'add_bos_token',
    });
  }

  function ifInVocab(token: string | undefined): string | undefined {
    return token === undefined || library.token_to_id(token) === undefined ? undefined : token;
  }

  return {
    vocabSize,
    bosId,
    eosId,
    bosToken,
    eosToken,
    addBos,
    encode(text: string): number[] {
      // Empty text has no tokens (SentencePiece, and Hugging Face's Prepend normalizer, skip it); the
      // JavaScript library would still prepend the "▁" of a dummy prefix to it.
      const ids = text === '' ? [] : library.encode(text, { add_special_tokens: false }).ids;
      for (const id of ids) {
        if (!Number.isInteger(id)) throw new Error(`tokenizer produced a token with no id for ${JSON.stringify(text)}`);
      }
      return addBos ? [bosId as number, ...ids] : ids;
    },
    decode(ids: readonly number[]): string {
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new RangeError(`token id ${id} is not in 0..${vocabSize - 1}`);
      }
      // The library throws on an empty list.
      if (ids.length === 0) return '';
      return library.decode([...ids], { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    },
  };
}

/**
 * Whether BOS is prepended, in this order:
 * 1. the caller's override (lm-eval's `add_bos_token` model argument);
 * 2. `add_bos_token` in tokenizer_config.json (what transformers' LLaMA tokenizers read);
 * 3. when tokenizer.json has a post_processor: whether it would put the BOS token first (what
 *    transformers' fast tokenizers do with `add_special_tokens=True`, the lm-eval default; a GPT-2 style
 *    `ByteLevel` post-processor adds nothing);
 * 4. otherwise: whether the tokenizer has a BOS token (LLaMA style, e.g. a converted SentencePiece model).
 */
function resolveAddBos(
  override: boolean | undefined,
  configValue: unknown,
  postProcessor: unknown,
  bosId: number | undefined,
  library: Tokenizer,
  configSource: string,
): boolean {
  if (override !== undefined) return override;
  if (typeof configValue === 'boolean') return configValue;
  if (configValue !== undefined && configValue !== null) {
    throw new OptibenchError(`add_bos_token must be true or false, not ${JSON.stringify(configValue)}`, {
      file: configSource,
      key: 'add_bos_token',
    });
  }
  if (isRecord(postProcessor)) {
    const first = leadingSpecialTokenId(postProcessor, library);
    return first !== undefined && first === bosId;
  }
  return bosId !== undefined;
}

/** The id of the special token a post-processor puts first in a single sequence, if any. */
function leadingSpecialTokenId(pp: Record<string, unknown>, library: Tokenizer): number | undefined {
  switch (pp.type) {
    case 'TemplateProcessing': {
      const token = leadingTemplateToken(pp);
      if (token === undefined) return undefined;
      const special = isRecord(pp.special_tokens) ? pp.special_tokens[token] : undefined;
      if (isRecord(special) && Array.isArray(special.ids) && typeof special.ids[0] === 'number') return special.ids[0];
      return library.token_to_id(token);
    }
    case 'RobertaProcessing':
    case 'BertProcessing':
      return Array.isArray(pp.cls) && typeof pp.cls[1] === 'number' ? pp.cls[1] : undefined;
    case 'Sequence':
      for (const inner of Array.isArray(pp.processors) ? pp.processors : []) {
        if (!isRecord(inner)) continue;
        const id = leadingSpecialTokenId(inner, library);
        if (id !== undefined) return id;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** The special token a `TemplateProcessing` post-processor's `single` template starts with, if any. */
function leadingTemplateToken(pp: unknown): string | undefined {
  if (!isRecord(pp)) return undefined;
  if (pp.type === 'Sequence' && Array.isArray(pp.processors)) {
    for (const inner of pp.processors) {
      const token = leadingTemplateToken(inner);
      if (token !== undefined) return token;
    }
    return undefined;
  }
  if (pp.type !== 'TemplateProcessing' || !Array.isArray(pp.single)) return undefined;
  const first: unknown = pp.single[0];
  if (!isRecord(first) || !isRecord(first.SpecialToken)) return undefined;
  return typeof first.SpecialToken.id === 'string' ? first.SpecialToken.id : undefined;
}

const TOKEN_FIELDS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'];

/** tokenizer_config.json token fields may be `"<s>"` or `{"content": "<s>", ...}`; the library wants strings. */
function flattenTokenFields(cfg: Record<string, unknown>, configSource: string): Record<string, unknown> {
  const flat: Record<string, unknown> = { ...cfg };
  for (const key of TOKEN_FIELDS) {
    if (key in flat) flat[key] = tokenText(flat[key], key, configSource) ?? null;
  }
  if (Array.isArray(flat.additional_special_tokens)) {
    flat.additional_special_tokens = flat.additional_special_tokens.map((value: unknown, i) =>
      tokenText(value, `additional_special_tokens[${i}]`, configSource),
    );
  }
  return flat;
}

function tokenText(value: unknown, key: string, configSource: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value.content === 'string') return value.content;
  throw new OptibenchError(`${key} must be a string or an object with a "content" string`, { file: configSource, key });
}

/** The file's text; undefined when it (or a directory on its path) does not exist. */
async function readTextFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new OptibenchError(`cannot read the file: ${errorMessage(error)}`, { file }, { cause: error });
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const message = errorMessage(error);
    const position = /position (\d+)/.exec(message);
    const line = position ? text.slice(0, Number(position[1])).split('\n').length : undefined;
    throw new OptibenchError(`invalid JSON: ${message}`, line === undefined ? { file } : { file, line }, { cause: error });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
