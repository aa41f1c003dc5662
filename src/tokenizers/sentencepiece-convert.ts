/**
 * A SentencePiece BPE model as the equivalent Hugging Face `tokenizer.json`, built to give SentencePiece's
 * ids exactly (checked on every HellaSwag string against Python's sentencepiece):
 *
 * - normalizer: prepend "▁" (SentencePiece's dummy prefix, also before a leading space) and turn every space
 *   into "▁";
 * - pre-tokenizer: split into SentencePiece's words, each starting at "▁" (a run of "▁" stays together when
 *   the model allows whitespace-only pieces), so merges never cross a word;
 * - model: BPE whose merge ranks follow the merged piece's score (SentencePiece merges the adjacent pair
 *   whose concatenation scores highest), with byte fallback to `<0xNN>` pieces for characters not in the
 *   vocabulary;
 * - decoder: "▁" back to spaces, byte pieces back to UTF-8, the dummy prefix removed.
 *
 * Control pieces (`<s>`, `</s>`) are kept out of `added_tokens`: SentencePiece reads "<s>" in text as plain
 * characters, and so must we. BOS is added by optibench's tokenizer wrapper, not by the file.
 */
import { OptibenchError } from '../core/errors.js';
import { ModelType, PieceType, type SentencePieceModel } from './sentencepiece-model.js';

const SPACE = '\u2581';

export interface ConvertedTokenizer {
  readonly tokenizerJson: Record<string, unknown>;
  readonly tokenizerConfig: Record<string, unknown>;
  readonly stats: { readonly pieces: number; readonly merges: number };
}

function regexEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Every way a piece can be formed by one merge: each split into two pieces that BPE can itself produce.
 * Ranked by the merged piece's score (highest first); equal scores keep vocabulary order, as SentencePiece's
 * vocabulary is itself ordered by score.
 */
function mergesFor(model: SentencePieceModel): [string, string][] {
  const mergeable = new Map<string, number>();
  model.pieces.forEach((p, id) => {
    if (p.type === PieceType.NORMAL || p.type === PieceType.UNUSED) mergeable.set(p.piece, id);
  });
  const candidates: { left: string; right: string; score: number; id: number; split: number }[] = [];
  model.pieces.forEach((p, id) => {
    if (p.type !== PieceType.NORMAL) return;
    const chars = Array.from(p.piece);
    for (let split = 1; split < chars.length; split++) {
      const left = chars.slice(0, split).join('');
      const right = chars.slice(split).join('');
      if (mergeable.has(left) && mergeable.has(right)) candidates.push({ left, right, score: p.score, id, split });
    }
  });
  candidates.sort((a, b) => b.score - a.score || a.id - b.id || a.split - b.split);
  return candidates.map((c) => [c.left, c.right]);
}

export function sentencePieceToTokenizerJson(model: SentencePieceModel, source: string): ConvertedTokenizer {
  const { trainer, normalizer } = model;
  const unsupported = (what: string) => new OptibenchError(`cannot convert this SentencePiece model: ${what}`, { file: source });
  if (trainer.modelType !== ModelType.BPE) {
    throw unsupported(`model type ${Object.entries(ModelType).find(([, v]) => v === trainer.modelType)?.[0] ?? trainer.modelType} (only BPE, as LLaMA uses, is supported)`);
  }
  if (normalizer.hasPrecompiledCharsmap || (normalizer.name !== '' && normalizer.name !== 'identity')) {
    throw unsupported(`normalizer "${normalizer.name}" (only "identity", as LLaMA uses, is supported)`);
  }
  if (normalizer.removeExtraWhitespaces) throw unsupported('remove_extra_whitespaces is on (LLaMA keeps whitespace as it is)');
  if (!normalizer.escapeWhitespaces) throw unsupported('escape_whitespaces is off');
  if (trainer.treatWhitespaceAsSuffix) throw unsupported('treat_whitespace_as_suffix is on');
  if (model.pieces.some((p) => p.type === PieceType.UNUSED)) throw unsupported('it has UNUSED pieces, which SentencePiece re-splits after merging');
  // SentencePiece matches user-defined pieces inside the normalized text; the tokenizer library matches added
  // tokens before normalizing (breaking the dummy prefix) or after normalizing their own text (adding one),
  // so neither gives SentencePiece's ids. Refused rather than approximated; LLaMA has none.
  const userDefined = model.pieces.filter((p) => p.type === PieceType.USER_DEFINED);
  if (userDefined.length > 0) {
    throw unsupported(`it has ${userDefined.length} user-defined pieces (${userDefined.slice(0, 3).map((p) => JSON.stringify(p.piece)).join(', ')}...)`);
  }

  const vocab: Record<string, number> = {};
  model.pieces.forEach((p, id) => {
    vocab[p.piece] = id;
  });
  const merges = mergesFor(model);
  const unk = trainer.unkId >= 0 ? model.pieces[trainer.unkId]!.piece : null;
  const bos = trainer.bosId >= 0 ? model.pieces[trainer.bosId]!.piece : null;
  const eos = trainer.eosId >= 0 ? model.pieces[trainer.eosId]!.piece : null;

  // SentencePiece's word split: a word starts at "▁"; with whitespace-only pieces allowed, a run of "▁"
  // starts one word. Text before the first "▁" (no dummy prefix) is a word of its own.
  const space = regexEscape(SPACE);
  const wordPattern = `${space}${trainer.allowWhitespaceOnlyPieces ? '+' : ''}[^${space}]*|[^${space}]+`;

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        ...(normalizer.addDummyPrefix ? [{ type: 'Prepend', prepend: SPACE }] : []),
        { type: 'Replace', pattern: { String: ' ' }, content: SPACE },
      ],
    },
    pre_tokenizer: trainer.splitByWhitespace ? { type: 'Split', pattern: { Regex: wordPattern }, behavior: 'Isolated', invert: false } : null,
    post_processor:
      bos === null
        ? null
        : {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
            special_tokens: { [bos]: { id: bos, ids: [trainer.bosId], tokens: [bos] } },
          },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(normalizer.addDummyPrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: trainer.byteFallback,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const tokenizerConfig = {
    tokenizer_class: 'LlamaTokenizerFast',
    add_bos_token: bos !== null,
    add_eos_token: false,
    bos_token: bos,
    eos_token: eos,
    unk_token: unk,
    clean_up_tokenization_spaces: false,
    legacy: false,
  };
  return { tokenizerJson, tokenizerConfig, stats: { pieces: model.pieces.length, merges: merges.length } };
}
