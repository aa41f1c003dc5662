/**
 * Reads a SentencePiece `tokenizer.model`: a protobuf `sentencepiece.ModelProto` holding the pieces (text,
 * score, type), the trainer spec (model type, special ids, byte fallback, whitespace rules) and the
 * normalizer spec. Decoding is done by protobufjs from a schema declared here (only the fields optibench
 * reads; the field numbers are those of SentencePiece's sentencepiece_model.proto).
 *
 * A protobuf parser accepts many byte strings, including a file cut at a field boundary, so the decoded
 * model is checked for what a complete, usable BPE model must have before anything trusts it.
 */
import { readFile } from 'node:fs/promises';
import protobuf from 'protobufjs';
import { OptibenchError } from '../core/errors.js';

export const PieceType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;
export type PieceType = (typeof PieceType)[keyof typeof PieceType];

export const ModelType = { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } as const;

// proto2 semantics (`edition: "proto2"`) matter: a field sent as `false` must read as false even where the
// declared default is true (LLaMA's remove_extra_whitespaces), and absent fields take the declared defaults.
const proto2 = { edition: 'proto2' };
const root = protobuf.Root.fromJSON({
  nested: {
    sentencepiece: {
      nested: {
        TrainerSpec: {
          ...proto2,
          fields: {
            modelType: { type: 'int32', id: 3, options: { default: ModelType.UNIGRAM } },
            vocabSize: { type: 'int32', id: 4, options: { default: 8000 } },
            splitByWhitespace: { type: 'bool', id: 22, options: { default: true } },
            treatWhitespaceAsSuffix: { type: 'bool', id: 24, options: { default: false } },
            splitDigits: { type: 'bool', id: 25, options: { default: false } },
            allowWhitespaceOnlyPieces: { type: 'bool', id: 26, options: { default: false } },
            byteFallback: { type: 'bool', id: 35, options: { default: false } },
            unkId: { type: 'int32', id: 40, options: { default: 0 } },
            bosId: { type: 'int32', id: 41, options: { default: 1 } },
            eosId: { type: 'int32', id: 42, options: { default: 2 } },
            padId: { type: 'int32', id: 43, options: { default: -1 } },
          },
        },
        NormalizerSpec: {
          ...proto2,
          fields: {
            name: { type: 'string', id: 1 },
            precompiledCharsmap: { type: 'bytes', id: 2 },
            addDummyPrefix: { type: 'bool', id: 3, options: { default: true } },
            removeExtraWhitespaces: { type: 'bool', id: 4, options: { default: true } },
            escapeWhitespaces: { type: 'bool', id: 5, options: { default: true } },
          },
        },
        ModelProto: {
          ...proto2,
          fields: {
            pieces: { rule: 'repeated', type: 'SentencePiece', id: 1 },
            trainerSpec: { type: 'TrainerSpec', id: 2 },
            normalizerSpec: { type: 'NormalizerSpec', id: 3 },
          },
          nested: {
            SentencePiece: {
              ...proto2,
              fields: {
                piece: { type: 'string', id: 1 },
                score: { type: 'float', id: 2 },
                type: { type: 'int32', id: 3, options: { default: PieceType.NORMAL } },
              },
            },
          },
        },
      },
    },
  },
});
const ModelProtoType = root.lookupType('sentencepiece.ModelProto');

export interface SentencePiece {
  readonly piece: string;
  readonly score: number;
  readonly type: PieceType;
}

export interface SentencePieceModel {
  readonly pieces: readonly SentencePiece[];
  readonly trainer: {
    readonly modelType: number;
    readonly byteFallback: boolean;
    readonly unkId: number;
    /** -1 when the model has none. */
    readonly bosId: number;
    readonly eosId: number;
    readonly padId: number;
    readonly splitByWhitespace: boolean;
    readonly treatWhitespaceAsSuffix: boolean;
    readonly allowWhitespaceOnlyPieces: boolean;
    readonly splitDigits: boolean;
  };
  readonly normalizer: {
    readonly name: string;
    readonly hasPrecompiledCharsmap: boolean;
    readonly addDummyPrefix: boolean;
    readonly removeExtraWhitespaces: boolean;
    readonly escapeWhitespaces: boolean;
  };
}

interface Decoded {
  pieces: { piece: string; score: number; type: number }[];
  trainerSpec?: SentencePieceModel['trainer'] & { vocabSize: number };
  normalizerSpec?: Omit<SentencePieceModel['normalizer'], 'hasPrecompiledCharsmap'> & { precompiledCharsmap: Uint8Array };
}

export async function readSentencePieceModel(file: string): Promise<SentencePieceModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new OptibenchError(code === 'ENOENT' ? 'SentencePiece model does not exist' : `cannot read: ${(error as Error).message}`, { file });
  }
  return parseSentencePieceModel(bytes, file);
}

export function parseSentencePieceModel(bytes: Uint8Array, file: string): SentencePieceModel {
  const bad = (reason: string) => new OptibenchError(`not a usable SentencePiece model: ${reason}`, { file });
  let decoded: Decoded;
  let present: Set<string>;
  try {
    const message = ModelProtoType.decode(bytes);
    present = new Set(Object.keys(message));
    decoded = ModelProtoType.toObject(message, { defaults: true }) as Decoded;
  } catch (error) {
    throw bad(`corrupt or truncated protobuf (${(error as Error).message})`);
  }
  if (decoded.pieces.length === 0) throw bad('it holds no pieces (empty, or not a tokenizer.model file)');
  // The pieces come first in the file and the specs after, so a file cut short loses the trainer spec.
  if (!present.has('trainerSpec') || !decoded.trainerSpec) throw bad('no trainer spec: the file is truncated (or not a tokenizer.model file)');
  if (!present.has('normalizerSpec') || !decoded.normalizerSpec) {
    throw bad('no normalizer spec: the file is truncated (or not a tokenizer.model file)');
  }

  const pieces: SentencePiece[] = decoded.pieces.map((p, id) => {
    const type = p.type as PieceType;
    if (p.piece.length === 0) throw bad(`piece ${id} has no text`);
    if (!Object.values(PieceType).includes(type)) throw bad(`piece ${id} (${JSON.stringify(p.piece)}) has unknown type ${type}`);
    return { piece: p.piece, score: p.score, type };
  });
  const { vocabSize, ...trainer } = decoded.trainerSpec;
  const { precompiledCharsmap, ...normalizerFields } = decoded.normalizerSpec;
  const normalizer = { ...normalizerFields, hasPrecompiledCharsmap: precompiledCharsmap.length > 0 };
  if (vocabSize !== pieces.length) {
    throw bad(`the trainer spec says ${vocabSize} pieces but the file holds ${pieces.length}: truncated or altered`);
  }

  const checkId = (name: string, id: number, expected: PieceType) => {
    if (id === -1) return;
    if (!(id >= 0 && id < pieces.length)) throw bad(`${name} ${id} is outside the ${pieces.length} pieces`);
    if (pieces[id]!.type !== expected) {
      throw bad(`${name} ${id} (${JSON.stringify(pieces[id]!.piece)}) is not a ${expected === PieceType.UNKNOWN ? 'unknown' : 'control'} piece`);
    }
  };
  checkId('unk_id', trainer.unkId, PieceType.UNKNOWN);
  checkId('bos_id', trainer.bosId, PieceType.CONTROL);
  checkId('eos_id', trainer.eosId, PieceType.CONTROL);

  const seen = new Set<string>();
  for (const p of pieces) {
    if (seen.has(p.piece)) throw bad(`piece ${JSON.stringify(p.piece)} appears twice`);
    seen.add(p.piece);
  }
  if (trainer.byteFallback) {
    const bytePieces = new Set(pieces.filter((p) => p.type === PieceType.BYTE).map((p) => p.piece));
    for (let b = 0; b < 256; b++) {
      if (!bytePieces.has(byteToken(b))) throw bad(`byte_fallback is on but the byte piece ${byteToken(b)} is missing`);
    }
  }
  return { pieces, trainer, normalizer };
}

/** `<0x0A>`: how SentencePiece names byte-fallback pieces. */
export function byteToken(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
}
