import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { float16ToFloat32, float32ToFloat16 } from '../../src/models/float16.js';
import { encodeSafetensors, readSafetensorsHeader, readTensorAsFloat32 } from '../../src/models/llama/safetensors.js';
import { pythonJson } from '../helpers/python.js';

const tmp = () => mkdtemp(path.join(os.tmpdir(), 'optibench-st-'));

describe('float16 conversion', () => {
  // numpy's float32 -> float16 cast (round to nearest, ties to even, subnormals, overflow) is the reference.
  const values = [0, -0, 1, -2.5, 65504, 65520, 70000, 1e-8, 5.96e-8, 2.98e-8, 6.1e-5, 1 / 3, 0.1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -1e-5, 3.14159];
  // JSON.stringify writes -0 as 0, so the Python list is spelled out by hand.
  const pythonList = `[${values.map((v) => (Object.is(v, -0) ? '-0.0' : String(v))).join(', ')}]`;
  it('matches numpy bit for bit, both ways', () => {
    const expected = pythonJson<number[]>(
      `import numpy as np, json, warnings; warnings.simplefilter('ignore'); print(json.dumps(np.array(${pythonList}, dtype=np.float32).astype(np.float16).view(np.uint16).tolist()))`,
    );
    expect(values.map(float32ToFloat16)).toEqual(expected);
    // JSON has no infinity: both sides spell it "inf".
    const back = pythonJson<(number | string)[]>(
      `import numpy as np, json; print(json.dumps([x if np.isfinite(x) else str(x) for x in np.array(${JSON.stringify(expected)}, dtype=np.uint16).view(np.float16).astype(np.float64).tolist()]))`,
    );
    expect(expected.map(float16ToFloat32).map((x) => (Number.isFinite(x) ? x : String(x).replace('Infinity', 'inf')))).toEqual(back);
  });
});

describe('safetensors', () => {
  it('reads what numpy wrote as raw bytes, F32 and BF16 and F16', async () => {
    const dir = await tmp();
    const f32 = new Float32Array([1.5, -2, 3.25, 0.1]);
    // bf16 of 1.0, -2.0, 0.5 by hand: the upper 16 bits of the float32 patterns 0x3f800000, 0xc0000000, 0x3f000000.
    const bf16 = new Uint16Array([0x3f80, 0xc000, 0x3f00]);
    // f16 of 1.0 and -0.5: 0x3c00, 0xb800.
    const f16 = new Uint16Array([0x3c00, 0xb800]);
    const file = path.join(dir, 'm.safetensors');
    await writeFile(
      file,
      encodeSafetensors([
        { name: 'a', dtype: 'F32', shape: [2, 2], data: new Uint8Array(f32.buffer) },
        { name: 'b', dtype: 'BF16', shape: [3], data: new Uint8Array(bf16.buffer) },
        { name: 'c', dtype: 'F16', shape: [2], data: new Uint8Array(f16.buffer) },
      ]),
    );
    const header = await readSafetensorsHeader(file);
    expect([...header.tensors.keys()]).toEqual(['a', 'b', 'c']);
    expect([...(await readTensorAsFloat32(header.tensors.get('a')!, file))]).toEqual([...f32]);
    expect([...(await readTensorAsFloat32(header.tensors.get('b')!, file))]).toEqual([1, -2, 0.5]);
    expect([...(await readTensorAsFloat32(header.tensors.get('c')!, file))]).toEqual([1, -0.5]);
    // An independent reader agrees on the layout: the header length and the data offsets.
    const fromPython = pythonJson<{ n: number; a: number[] }>(
      `import json, struct, numpy as np
d = open(${JSON.stringify(file)}, 'rb').read(); n = struct.unpack('<Q', d[:8])[0]; h = json.loads(d[8:8+n])
b, e = h['a']['data_offsets']; print(json.dumps({'n': n, 'a': np.frombuffer(d[8+n+b:8+n+e], dtype='<f4').astype(float).tolist()}))`,
    );
    expect(fromPython.a).toEqual([...f32]);
    expect((8 + fromPython.n) % 8).toBe(0);
  });

  async function expectCorrupt(bytes: Buffer, pattern: RegExp): Promise<void> {
    const file = path.join(await tmp(), 'bad.safetensors');
    await writeFile(file, bytes);
    const error = await readSafetensorsHeader(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OptibenchError);
    expect((error as OptibenchError).oneLine()).toMatch(pattern);
    expect((error as OptibenchError).oneLine()).toContain(file);
  }

  const good = () => encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [4], data: new Uint8Array(16) }]);

  it('refuses a file shorter than the length prefix', () => expectCorrupt(Buffer.from([1, 2, 3]), /shorter than the 8-byte header length/));
  it('refuses a header length past the end of the file', async () => {
    const bytes = good();
    bytes.writeBigUInt64LE(10n ** 12n, 0);
    await expectCorrupt(bytes, /header length 1000000000000 does not fit/);
  });
  it('refuses a header that is not JSON', async () => {
    const bytes = good();
    bytes.write('#', 8);
    await expectCorrupt(bytes, /header is not valid JSON/);
  });
  it('refuses a truncated file', () => expectCorrupt(good().subarray(0, good().length - 4), /past the end of the file.*truncated/));
  it('refuses offsets that do not match the shape', async () => {
    const json = JSON.stringify({ w: { dtype: 'F32', shape: [5], data_offsets: [0, 16] } });
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(json.length));
    await expectCorrupt(Buffer.concat([head, Buffer.from(json), Buffer.alloc(16)]), /spans 16 bytes but F32\[5\] needs 20/);
  });
  it('refuses an unknown dtype', async () => {
    const json = JSON.stringify({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } });
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(json.length));
    await expectCorrupt(Buffer.concat([head, Buffer.from(json), Buffer.alloc(1)]), /unsupported dtype "F8"/);
  });
  it('refuses overlapping tensors', async () => {
    const json = JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } });
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(json.length));
    await expectCorrupt(Buffer.concat([head, Buffer.from(json), Buffer.alloc(12)]), /overlap/);
  });
});
