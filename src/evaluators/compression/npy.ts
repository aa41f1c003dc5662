/**
 * bfloat16 tensors in `.npy` files: numpy has no bfloat16, so a sample is a `.npy` of dtype `<u2` holding the
 * raw bit patterns (PROTOCOL.md). Only that form is read or written here (format version 1.0, C order).
 */
import { OptibenchError } from '../../core/errors.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export interface Bf16Tensor {
  readonly shape: readonly number[];
  /** The bfloat16 bit patterns, C order. */
  readonly bits: Uint16Array;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The `.npy` bytes of a bfloat16 tensor, as numpy's `np.save` writes a `<u2` array. */
export function encodeNpy(tensor: Bf16Tensor): Buffer {
  if (tensor.bits.length !== elementCount(tensor.shape)) throw new Error(`${tensor.bits.length} values for shape [${tensor.shape.join(', ')}]`);
  const shape = tensor.shape.length === 1 ? `(${tensor.shape[0]},)` : `(${tensor.shape.join(', ')})`;
  let header = `{'descr': '<u2', 'fortran_order': False, 'shape': ${shape}, }`;
  // Magic (6) + version (2) + header length (2) + header + newline, padded with spaces to a multiple of 64.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = Buffer.alloc(total + tensor.bits.length * 2);
  MAGIC.copy(out, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  const data = Buffer.from(tensor.bits.buffer, tensor.bits.byteOffset, tensor.bits.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) data.copy(out, total);
  else for (let i = 0; i < tensor.bits.length; i++) out.writeUInt16LE(tensor.bits[i]!, total + 2 * i);
  return out;
}

/** A `.npy` of `<u2` (or `|u2`/`<i2`, the same bits) back as a bfloat16 tensor; anything else is refused with why. */
export function decodeNpy(bytes: Buffer, file = '(npy)'): Bf16Tensor {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC)) throw new OptibenchError('not a .npy file (no \\x93NUMPY magic)', { file });
  const major = bytes[6]!;
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : major === 2 || major === 3 ? bytes.readUInt32LE(8) : -1;
  if (headerLength < 0) throw new OptibenchError(`unknown .npy format version ${major}`, { file });
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start + headerLength) throw new OptibenchError('the .npy header is cut short', { file });
  const header = bytes.subarray(start, start + headerLength).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  if (descr !== '<u2' && descr !== '<i2' && descr !== '|u2') throw new OptibenchError(`expected dtype <u2 (bfloat16 bits), got ${descr ?? 'none'}`, { file });
  if (!/'fortran_order':\s*False/.test(header)) throw new OptibenchError('expected C order (fortran_order False)', { file });
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) throw new OptibenchError('the .npy header has no shape', { file });
  const shape = shapeText.split(',').map((d) => d.trim()).filter(Boolean).map(Number);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new OptibenchError(`bad shape (${shapeText})`, { file });
  const count = elementCount(shape);
  const data = bytes.subarray(start + headerLength);
  if (data.length !== count * 2) throw new OptibenchError(`${data.length} data bytes for shape (${shape.join(', ')}) of 2-byte values (expected ${count * 2})`, { file });
  const bits = new Uint16Array(count);
  for (let i = 0; i < count; i++) bits[i] = data.readUInt16LE(2 * i);
  return { shape, bits };
}

/** bfloat16 bits to float32 values (exact). */
export function bf16ToFloat32(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i]! << 16;
  return new Float32Array(words.buffer);
}

/** float32 to bfloat16 bits, rounding to nearest even (as PyTorch does); NaN stays NaN. */
export function float32ToBf16(values: Float32Array): Uint16Array {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const w = words[i]!;
    if ((w & 0x7f800000) === 0x7f800000 && (w & 0x7fffff) !== 0) out[i] = (w >>> 16) | 0x40;
    else out[i] = (w + 0x7fff + ((w >>> 16) & 1)) >>> 16;
  }
  return out;
}
