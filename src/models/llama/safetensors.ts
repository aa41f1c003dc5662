/**
 * Safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape
 * and byte range, then the raw data. Tensors are read one at a time through a file handle so a model
 * larger than memory can be streamed.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { OptibenchError } from '../../core/errors.js';
import { readFully, writeFully } from '../file-io.js';
import { float16ToFloat32 } from '../float16.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Headers beyond this are not real safetensors files (the format's own reference caps it at 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Absolute byte offsets in the file. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly file: string;
  readonly fileSize: number;
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  readonly metadata: Readonly<Record<string, string>>;
}

function corrupt(file: string, reason: string): OptibenchError {
  return new OptibenchError(`corrupt safetensors file: ${reason}`, { file });
}

async function readExactly(handle: FileHandle, length: number, position: number, file: string): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  const done = await readFully(handle, buffer, 0, length, position);
  if (done < length) throw corrupt(file, `unexpected end of file at byte ${position + done}`);
  return buffer;
}

export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new OptibenchError(`cannot open weights: ${(error as Error).message}`, { file });
  }
  try {
    const { size: fileSize } = await handle.stat();
    if (fileSize < 8) throw corrupt(file, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
    const lengthBytes = await readExactly(handle, 8, 0, file);
    const headerLength = lengthBytes.readBigUInt64LE(0);
    if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) {
      throw corrupt(file, `header length ${headerLength} does not fit in a ${fileSize}-byte file`);
    }
    const headerBytes = await readExactly(handle, Number(headerLength), 8, file);
    let json: unknown;
    try {
      json = JSON.parse(headerBytes.toString('utf8'));
    } catch (error) {
      throw corrupt(file, `header is not valid JSON (${(error as Error).message})`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw corrupt(file, 'header is not a JSON object');
    const dataStart = 8 + Number(headerLength);
    const tensors = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = (value ?? {}) as Record<string, string>;
        continue;
      }
      tensors.set(name, parseEntry(file, name, value, dataStart, fileSize));
    }
    checkNoOverlap(file, [...tensors.values()]);
    return { file, fileSize, tensors, metadata };
  } finally {
    await handle.close();
  }
}

function parseEntry(file: string, name: string, value: unknown, dataStart: number, fileSize: number): TensorEntry {
  const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
  if (!entry || typeof entry !== 'object') throw corrupt(file, `tensor "${name}" has no description`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string' || !(dtype in BYTES_PER_ELEMENT)) {
    throw corrupt(file, `tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw corrupt(file, `tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    throw corrupt(file, `tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  const expected = elements * BYTES_PER_ELEMENT[dtype as SafetensorsDtype];
  const [begin, end] = offsets as [number, number];
  if (end - begin !== expected) {
    throw corrupt(file, `tensor "${name}" spans ${end - begin} bytes but ${dtype}${JSON.stringify(shape)} needs ${expected}`);
  }
  if (dataStart + end > fileSize) {
    throw corrupt(file, `tensor "${name}" ends at byte ${dataStart + end}, past the end of the file (${fileSize} bytes): truncated?`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end };
}

function checkNoOverlap(file: string, entries: TensorEntry[]): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.begin < sorted[i - 1]!.end) {
      throw corrupt(file, `tensors "${sorted[i - 1]!.name}" and "${sorted[i]!.name}" overlap`);
    }
  }
}

/** Reads one tensor's raw little-endian bytes. */
export async function readTensorBytes(entry: TensorEntry, file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    return await readExactly(handle, entry.end - entry.begin, entry.begin, file);
  } finally {
    await handle.close();
  }
}

/** Reads one tensor as float32 values, converting from F16 or BF16. */
export async function readTensorAsFloat32(entry: TensorEntry, file: string): Promise<Float32Array> {
  return toFloat32(await readTensorBytes(entry, file), entry.dtype, `${file}: ${entry.name}`);
}

export function toFloat32(bytes: Buffer, dtype: SafetensorsDtype, what: string): Float32Array {
  // A buffer of its own (every large one is) is used in place: copying a 2 GB tensor would double its cost.
  const owned = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength;
  const aligned = owned ? bytes.buffer : new Uint8Array(bytes).buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned);
    case 'BF16': {
      // bf16 is the upper half of a float32: widening is a shift, exact.
      const halves = new Uint16Array(aligned);
      const words = new Uint32Array(halves.length);
      for (let i = 0; i < halves.length; i++) words[i] = halves[i]! << 16;
      return new Float32Array(words.buffer);
    }
    case 'F16': {
      const halves = new Uint16Array(aligned);
      const out = new Float32Array(halves.length);
      for (let i = 0; i < halves.length; i++) out[i] = float16ToFloat32(halves[i]!);
      return out;
    }
    default:
      throw new OptibenchError(`expected a floating-point weight, found ${dtype}`, { file: what });
  }
}

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: 'F32' | 'F16' | 'BF16';
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** A tensor's place in a file about to be written: its data comes later. */
export type TensorSpec = Omit<TensorToWrite, 'data'>;

export function tensorByteLength(t: TensorSpec): number {
  return t.shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[t.dtype];
}

/**
 * The file's first bytes (the 8-byte length and the JSON header) for tensors laid out in this order; the
 * data of each follows at `dataStart`, back to back.
 */
export function safetensorsHeader(tensors: readonly TensorSpec[], metadata: Record<string, string> = {}): { bytes: Buffer; dataStart: number } {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const length = tensorByteLength(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const bytes = Buffer.alloc(8 + headerBytes.length);
  bytes.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(bytes, 8);
  return { bytes, dataStart: bytes.length };
}

/** Serialises tensors into one safetensors file image (for small models; `writeSafetensors` streams). */
export function encodeSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Buffer {
  const { bytes: head, dataStart } = safetensorsHeader(tensors, metadata);
  const out = Buffer.alloc(dataStart + tensors.reduce((a, t) => a + t.data.byteLength, 0));
  head.copy(out, 0);
  let position = dataStart;
  for (const t of tensors) {
    out.set(t.data, position);
    position += t.data.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file one tensor at a time: `data(spec)` is asked for each tensor in order and only that
 * tensor is in memory, so a file (or a single tensor) larger than 2 GB is written like a small one.
 */
export async function writeSafetensors(
  file: string,
  tensors: readonly TensorSpec[],
  data: (tensor: TensorSpec) => Uint8Array,
  metadata: Record<string, string> = {},
): Promise<number> {
  const { bytes: head, dataStart } = safetensorsHeader(tensors, metadata);
  const handle = await open(file, 'w');
  try {
    await writeFully(handle, head, 0);
    let position = dataStart;
    for (const t of tensors) {
      const bytes = data(t);
      if (bytes.byteLength !== tensorByteLength(t)) {
        throw new Error(`tensor "${t.name}": ${bytes.byteLength} bytes given, ${t.dtype}[${t.shape.join(', ')}] needs ${tensorByteLength(t)}`);
      }
      await writeFully(handle, bytes, position);
      position += bytes.byteLength;
    }
    return position;
  } finally {
    await handle.close();
  }
}
