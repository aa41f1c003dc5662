/**
 * Writes ONNX external data: tensors appended one at a time to a single file, each at a page-aligned
 * offset so ONNX Runtime can memory-map them. Only the tensor being written is ever in memory.
 */
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { writeFully } from './file-io.js';
import type { ExternalLocation } from './onnx-builder.js';

const ALIGNMENT = 4096;

export class ExternalDataWriter {
  private offset = 0;

  private constructor(
    private readonly handle: FileHandle,
    private readonly location: string,
  ) {}

  static async create(file: string): Promise<ExternalDataWriter> {
    return new ExternalDataWriter(await open(file, 'w'), path.basename(file));
  }

  get bytesWritten(): number {
    return this.offset;
  }

  async append(bytes: Uint8Array): Promise<ExternalLocation> {
    // The range is reserved before the first await, so overlapping calls cannot be given the same offset.
    const start = Math.ceil(this.offset / ALIGNMENT) * ALIGNMENT;
    this.offset = start + bytes.byteLength;
    await writeFully(this.handle, bytes, start);
    return { location: this.location, offset: start, length: bytes.byteLength };
  }

  async close(): Promise<void> {
    await this.handle.sync();
    await this.handle.close();
  }
}
