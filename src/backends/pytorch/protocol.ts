/**
 * The TypeScript half of the worker protocol (PROTOCOL.md beside this file): message shapes and the
 * base64 tensor codec. Tensors travel little-endian, as typed arrays lay them out on every platform Node
 * runs optibench on.
 */
import os from 'node:os';
import type { NamedTensor } from '../scoring.js';

/** Bumped when a message changes incompatibly; the worker says its version in the ready line. */
export const PROTOCOL_VERSION = 1;

/** The first line a worker writes. */
export interface ReadyLine {
  readonly type: 'ready';
  readonly protocol: number;
  readonly torch: string;
  readonly python: string;
  readonly cuda: boolean;
  readonly sdpa: boolean;
  readonly compile: boolean;
  readonly transformers: string | null;
  /** Processes answering together: 1, or the torchrun world size. */
  readonly ranks: number;
  /** Rank 0's process id (under torchrun, not the launcher's). */
  readonly pid: number;
}

export interface WireTensor {
  readonly dtype: 'int64' | 'bool' | 'float32' | 'uint8';
  readonly shape: readonly number[];
  /** The elements, little-endian, base64. */
  readonly data: string;
}

if (os.endianness() !== 'LE') throw new Error('the PyTorch worker protocol sends little-endian tensors; this machine is big-endian');

export function encodeTensor(tensor: NamedTensor): WireTensor {
  const bytes = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  return { dtype: tensor.type, shape: [...tensor.dims], data: bytes.toString('base64') };
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isInteger(d) && d >= 0);
}

/** A tensor from the worker, checked to hold `dtype` with exactly `shape`; the error says what was wrong. */
export function decodeTensor(value: unknown, dtype: 'float32', shape: readonly number[]): Float32Array;
export function decodeTensor(value: unknown, dtype: 'uint8', shape: readonly number[]): Uint8Array;
export function decodeTensor(value: unknown, dtype: 'float32' | 'uint8', shape: readonly number[]): Float32Array | Uint8Array {
  const wire = value as Partial<WireTensor> | null;
  if (wire === null || typeof wire !== 'object' || wire.dtype !== dtype || !isShape(wire.shape) || typeof wire.data !== 'string') {
    throw new Error(`expected a ${dtype} tensor {dtype, shape, data}`);
  }
  if (wire.shape.length !== shape.length || wire.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`expected shape [${shape.join(', ')}], got [${wire.shape.join(', ')}]`);
  }
  const bytes = Buffer.from(wire.data, 'base64');
  const count = shape.reduce((a, b) => a * b, 1);
  const size = dtype === 'float32' ? 4 : 1;
  if (bytes.byteLength !== count * size) throw new Error(`${bytes.byteLength} bytes for shape [${shape.join(', ')}] of ${dtype}`);
  const out = dtype === 'float32' ? new Float32Array(count) : new Uint8Array(count);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
