/**
 * A small builder for ONNX graphs: named inputs and outputs, nodes with typed attributes, small constants
 * stored inline and large weights stored as external data (written elsewhere, referenced by offset).
 * Serialisation goes through onnx-proto (the ONNX protobuf schema compiled by protobufjs).
 */
import onnxProto from 'onnx-proto';
import { float32ToFloat16 } from './float16.js';

const { onnx } = onnxProto;

export const ElemType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;
export type ElemType = (typeof ElemType)[keyof typeof ElemType];

export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: onnxProto.onnx.ITensorProto };

export const attr = {
  int: (value: number): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  ints: (value: readonly number[]): AttrValue => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): AttrValue => ({ kind: 'floats', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
};

function toAttribute(name: string, a: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'tensor':
      return { name, type: T.TENSOR, t: a.value };
  }
}

export type Dim = number | string;

export interface ExternalLocation {
  /** File name relative to the model file. */
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

function valueInfo(name: string, elemType: ElemType, dims: readonly Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly constants = new Map<string, string>();
  private readonly usedNames = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly opCounts = new Map<string, number>();
  private scope = '';

  constructor(readonly name: string) {}

  /** Prefix for node names created inside `fn`, e.g. `layers.3/attn`, so profiles stay readable. */
  within<T>(scope: string, fn: () => T): T {
    const previous = this.scope;
    this.scope = previous ? `${previous}/${scope}` : scope;
    try {
      return fn();
    } finally {
      this.scope = previous;
    }
  }

  input(name: string, elemType: ElemType, dims: readonly Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Declares `value` as a graph output under `name` (through an Identity when the names differ). */
  output(value: string, name: string, elemType: ElemType, dims: readonly Dim[]): void {
    const finalName = value === name ? name : this.node('Identity', [value], {}, { outputs: [name] })[0]!;
    this.outputs.push(valueInfo(finalName, elemType, dims));
  }

  /** Adds a node and returns its output names (one by default). */
  node(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttrValue> = {},
    options: { outputs?: number | readonly string[]; domain?: string } = {},
  ): string[] {
    const base = this.uniqueName(this.scope ? `${this.scope}/${opType}` : opType);
    const outputs =
      typeof options.outputs === 'object'
        ? [...options.outputs]
        : Array.from({ length: options.outputs ?? 1 }, (_, i) => (i === 0 ? `${base}:0` : `${base}:${i}`));
    for (const o of outputs) this.claim(o);
    this.nodes.push({
      name: base,
      opType,
      domain: options.domain ?? '',
      input: [...inputs],
      output: outputs,
      attribute: Object.entries(attributes).map(([k, v]) => toAttribute(k, v)),
    });
    const key = options.domain ? `${options.domain}.${opType}` : opType;
    this.opCounts.set(key, (this.opCounts.get(key) ?? 0) + 1);
    return outputs;
  }

  /** Single-output shorthand. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, AttrValue> = {}, domain?: string): string {
    return this.node(opType, inputs, attributes, domain ? { domain } : {})[0]!;
  }

  /** A small constant tensor stored inline; identical constants are shared. */
  constant(elemType: ElemType, dims: readonly number[], values: ArrayLike<number> | ArrayLike<bigint>): string {
    const bytes = encodeValues(elemType, values);
    const key = `${elemType}|${dims.join(',')}|${Buffer.from(bytes).toString('base64')}`;
    const existing = this.constants.get(key);
    if (existing) return existing;
    const name = this.uniqueName(`const_${this.constants.size}`);
    this.claim(name);
    this.initializers.push({ name, dims: [...dims], dataType: elemType, rawData: bytes });
    this.constants.set(key, name);
    return name;
  }

  int64s(values: readonly number[]): string {
    return this.constant(ElemType.INT64, [values.length], values.map((v) => BigInt(v)));
  }

  scalarInt64(value: number): string {
    return this.constant(ElemType.INT64, [], [BigInt(value)]);
  }

  scalar(elemType: ElemType, value: number): string {
    return this.constant(elemType, [], [value]);
  }

  /** A large tensor (weights) whose bytes live in an external data file. */
  externalInitializer(name: string, elemType: ElemType, dims: readonly number[], where: ExternalLocation): string {
    this.claim(name);
    this.initializers.push({
      name,
      dims: [...dims],
      dataType: elemType,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: where.location },
        { key: 'offset', value: String(where.offset) },
        { key: 'length', value: String(where.length) },
      ],
    });
    return name;
  }

  /** Operator counts by type, e.g. { MatMul: 56 }: recorded so reports can say what the graph contains. */
  operatorCounts(): Record<string, number> {
    return Object.fromEntries([...this.opCounts].sort(([a], [b]) => a.localeCompare(b)));
  }

  serialize(opsets: Record<string, number>, metadata: Record<string, string> = {}): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'optibench',
      opsetImport: Object.entries(opsets).map(([domain, version]) => ({ domain, version })),
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private claim(name: string): void {
    if (this.usedNames.has(name)) throw new Error(`ONNX graph builder: name "${name}" is used twice`);
    this.usedNames.add(name);
  }

  /** A name no node, value or initializer has yet; node outputs derive from it as `name:i`. */
  private uniqueName(base: string): string {
    const free = (name: string) => !this.nodeNames.has(name) && !this.usedNames.has(name) && !this.usedNames.has(`${name}:0`);
    let name = base;
    for (let i = 1; !free(name); i++) name = `${base}_${i}`;
    this.nodeNames.add(name);
    return name;
  }
}

function encodeValues(elemType: ElemType, values: ArrayLike<number> | ArrayLike<bigint>): Uint8Array {
  const list = Array.from(values as ArrayLike<number | bigint>);
  switch (elemType) {
    case ElemType.INT64:
      return new Uint8Array(BigInt64Array.from(list.map((v) => BigInt(v))).buffer);
    case ElemType.INT32:
      return new Uint8Array(Int32Array.from(list.map(Number)).buffer);
    case ElemType.FLOAT:
      return new Uint8Array(Float32Array.from(list.map(Number)).buffer);
    case ElemType.DOUBLE:
      return new Uint8Array(Float64Array.from(list.map(Number)).buffer);
    case ElemType.BOOL:
    case ElemType.UINT8:
      return Uint8Array.from(list.map(Number));
    case ElemType.INT8:
      return new Uint8Array(Int8Array.from(list.map(Number)).buffer);
    case ElemType.FLOAT16:
      return new Uint8Array(Uint16Array.from(list.map((v) => float32ToFloat16(Number(v)))).buffer);
  }
}
