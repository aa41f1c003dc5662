/**
 * What every part of the LLaMA graph is built with: the graph builder, the model config, the element type,
 * and the weight writer that streams tensors into the external data file one at a time.
 */
import { OptibenchError } from '../../../core/errors.js';
import type { ExternalDataWriter } from '../../external-data.js';
import { float32ArrayToFloat16 } from '../../float16.js';
import { ElemType, GraphBuilder, attr } from '../../onnx-builder.js';
import type { LlamaConfig, WeightLocation } from '../hf-model.js';
import { readTensorAsFloat32 } from '../safetensors.js';

export function blockTranspose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  const block = 64;
  for (let r0 = 0; r0 < rows; r0 += block) {
    const r1 = Math.min(rows, r0 + block);
    for (let c0 = 0; c0 < cols; c0 += block) {
      const c1 = Math.min(cols, c0 + block);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) out[c * rows + r] = values[r * cols + c]!;
      }
    }
  }
  return out;
}

/** Streams weights into external data, reporting progress about ten times per build. */
export class WeightWriter {
  private written = 0;
  /** Weights made by concatenating checkpoint weights along the output dimension (fused projections). */
  private readonly fused = new Map<string, readonly string[]>();

  constructor(
    private readonly g: GraphBuilder,
    private readonly weights: ReadonlyMap<string, WeightLocation>,
    private readonly writer: ExternalDataWriter,
    private readonly onProgress?: (message: string) => void,
  ) {}

  /**
   * Names a weight made of checkpoint weights stacked along the output dimension ([out1 + out2 + ..., in]), so one
   * MatMul computes all their projections; every part reads and writes it like a checkpoint weight.
   */
  fuse(name: string, parts: readonly string[]): string {
    this.fused.set(name, parts);
    return name;
  }

  /** A weight as float32 values, in HF's [out, in] layout (or transposed to [in, out]). */
  async read(name: string, transpose: boolean): Promise<{ values: Float32Array; dims: number[] }> {
    const parts = this.fused.get(name);
    if (parts) {
      const read = [];
      for (const part of parts) read.push(await this.read(part, false));
      const inFeatures = read[0]!.dims[1]!;
      if (read.some((r) => r.dims[1] !== inFeatures)) throw new OptibenchError(`cannot fuse ${parts.join(', ')}: their input sizes differ`);
      const outFeatures = read.reduce((sum, r) => sum + r.dims[0]!, 0);
      const values = new Float32Array(outFeatures * inFeatures);
      let offset = 0;
      for (const r of read) {
        values.set(r.values, offset);
        offset += r.values.length;
      }
      return transpose ? { values: blockTranspose(values, outFeatures, inFeatures), dims: [inFeatures, outFeatures] } : { values, dims: [outFeatures, inFeatures] };
    }
    const source = this.weights.get(name);
    if (!source) throw new OptibenchError(`weight "${name}" is missing`);
    const values = await readTensorAsFloat32(source.entry, source.file);
    const dims = [...source.entry.shape];
    if (!transpose) return { values, dims };
    return { values: blockTranspose(values, dims[0]!, dims[1]!), dims: [dims[1]!, dims[0]!] };
  }

  /** Writes bytes as an external initializer; `source` is the checkpoint tensor it came from (for progress). */
  async write(initializer: string, elemType: ElemType, dims: readonly number[], bytes: Uint8Array, source?: string): Promise<string> {
    const where = await this.writer.append(bytes);
    if (source !== undefined) for (let i = 0; i < (this.fused.get(source)?.length ?? 1); i++) this.tick();
    return this.g.externalInitializer(initializer, elemType, dims, where);
  }

  /** The weight as it is, in the model's float type (fp32 or fp16). */
  async float(name: string, elemType: ElemType, transpose: boolean): Promise<string> {
    const { values, dims } = await this.read(name, transpose);
    const bytes = elemType === ElemType.FLOAT16 ? new Uint8Array(float32ArrayToFloat16(values).buffer) : new Uint8Array(values.buffer);
    return this.write(transpose ? `${name}.T` : name, elemType, dims, bytes, name);
  }

  private tick(): void {
    this.written += 1;
    const total = this.weights.size;
    if (Math.floor((this.written * 10) / total) > Math.floor(((this.written - 1) * 10) / total)) {
      this.onProgress?.(`building the ONNX graph: ${this.written}/${total} weights written (${(this.writer.bytesWritten / 2 ** 20) | 0} MiB)`);
    }
  }
}

export interface BuildContext {
  readonly g: GraphBuilder;
  readonly config: LlamaConfig;
  /** The model's float type: FLOAT or FLOAT16. */
  readonly T: ElemType;
  readonly weights: WeightWriter;
  /** [batch, seq] int64: the position of each current token (past tokens counted). */
  readonly positions: string;
  /** [batch, 1, seq, past + seq] bool: which key slots each query may attend to (slots in position order). */
  readonly allowed: string;
  /** With a key/value cache: [batch] int64, the row of the past tensors each batch row continues. */
  readonly pastRows: string | undefined;
  /** With a key/value cache: [batch, past + seq] int64, the slot of concat(past, current) each key slot takes. */
  readonly keyOrder: string | undefined;
  /** Facts the parts record for the report (e.g. which fusions were applied). */
  readonly facts: Record<string, string[]>;
  /** Values built once per graph and shared by every layer (rotary tables, scalars). */
  readonly memo: Map<string, string>;
}

/** The value under `key`, built by `make` the first time it is asked for. */
export function shared(ctx: BuildContext, key: string, make: () => string): string {
  let value = ctx.memo.get(key);
  if (value === undefined) {
    value = make();
    ctx.memo.set(key, value);
  }
  return value;
}

export function toFloat(ctx: BuildContext, x: string): string {
  return ctx.T === ElemType.FLOAT16 ? ctx.g.op('Cast', [x], { to: attr.int(ElemType.FLOAT) }) : x;
}

export function toModel(ctx: BuildContext, x: string): string {
  return ctx.T === ElemType.FLOAT16 ? ctx.g.op('Cast', [x], { to: attr.int(ctx.T) }) : x;
}

export function recordFact(ctx: BuildContext, key: string, value: string): void {
  const list = (ctx.facts[key] ??= []);
  if (!list.includes(value)) list.push(value);
}
