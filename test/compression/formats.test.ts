/**
 * The compression competition's file formats against independent references: `.npy` bytes as numpy writes and
 * reads them, bfloat16 rounding as PyTorch does it, the order-0 entropy worked out by hand, manifest.csv rows.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, float32ToBf16 } from '../../src/evaluators/compression/npy.js';
import { order0Entropy } from '../../src/evaluators/compression/entropy.js';
import { parseManifestCsv, writeManifestCsv } from '../../src/evaluators/compression/sample-manifest.js';
import { runPython } from '../helpers/python.js';
import type { OptibenchError } from '../../src/core/errors.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-formats-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('bfloat16 .npy', () => {
  it('writes the bytes numpy writes for a <u2 array, and reads numpy\'s', async () => {
    const bits = Uint16Array.from([0, 1, 0x3f80, 0xbf80, 0x7f80, 0xffff]);
    const ours = encodeNpy({ shape: [2, 3], bits });
    const file = path.join(root, 'np.npy');
    runPython(['-c', `import numpy as np; np.save(${JSON.stringify(file)}, np.array([[0,1,0x3f80],[0xbf80,0x7f80,0xffff]], dtype='<u2'))`]);
    const theirs = await readFile(file);
    expect(ours.equals(theirs)).toBe(true);
    expect(decodeNpy(theirs)).toEqual({ shape: [2, 3], bits });
    await writeFile(path.join(root, 'ours.npy'), encodeNpy({ shape: [7], bits: new Uint16Array(7).fill(0x4049) }));
    expect(runPython(['-c', `import numpy as np; a = np.load(${JSON.stringify(path.join(root, 'ours.npy'))}); print(a.dtype, a.shape, int(a[3]))`]).trim()).toBe('uint16 (7,) 16457');
  });

  it('refuses another dtype, Fortran order, or data that does not fill the shape', () => {
    const file = path.join(root, 'f4.npy');
    runPython(['-c', `import numpy as np; np.save(${JSON.stringify(file)}, np.zeros(3, dtype='<f4'))`]);
    return readFile(file).then((bytes) => {
      expect(() => decodeNpy(bytes, 'f4.npy')).toThrow('expected dtype <u2 (bfloat16 bits), got <f4');
      const short = encodeNpy({ shape: [4], bits: new Uint16Array(4) }).subarray(0, -2);
      expect(() => decodeNpy(short)).toThrow('6 data bytes for shape (4) of 2-byte values (expected 8)');
    });
  });

  it('rounds float32 to bfloat16 as PyTorch does (nearest, ties to even)', () => {
    const values = Float32Array.from([1, 1.00390625, 1.005859375, -2.5e-8, 3.3895314e38, 65504, 0.1]);
    const torch = JSON.parse(runPython(['-c', `import torch, json; t = torch.tensor(${JSON.stringify([...values])}, dtype=torch.float32).to(torch.bfloat16).view(torch.int16).to(torch.int32) & 0xffff; print(json.dumps(t.tolist()))`])) as number[];
    expect([...float32ToBf16(values)]).toEqual(torch);
  });
});

describe('order-0 entropy', () => {
  it('is worked out by hand: four equally likely values are 2 bits, a constant is 0', () => {
    expect(order0Entropy(Uint16Array.from([1, 2, 3, 4, 1, 2, 3, 4]))).toEqual({ bitsPerValue: 2, ratio: 8 });
    expect(order0Entropy(new Uint16Array(10).fill(7))).toEqual({ bitsPerValue: 0, ratio: Infinity });
    // p = 3/4, 1/4: -(0.75 log2 0.75 + 0.25 log2 0.25) = 0.811278...
    expect(order0Entropy(Uint16Array.from([5, 5, 5, 9])).bitsPerValue).toBeCloseTo(0.8112781244591328, 12);
  });
});

describe('manifest.csv', () => {
  const row = { file: 'a.npy', kind: 'forward' as const, shape: [1, 800, 128], dtype: 'bfloat16' as const, layer: 3, source: 'bottleneck, "pp"', sha256: 'a'.repeat(64) };

  it('round-trips, quoting what needs it', () => {
    const text = writeManifestCsv([row, { ...row, file: 'b.npy', kind: 'backward', layer: null }]);
    expect(text.split('\n')[1]).toBe(`a.npy,forward,1x800x128,bfloat16,3,"bottleneck, ""pp""",${'a'.repeat(64)}`);
    expect(parseManifestCsv(text)).toEqual([row, { ...row, file: 'b.npy', kind: 'backward', layer: null }]);
  });

  it('refuses a path outside the folder, a bad shape, a bad hash, naming the line', () => {
    const header = 'file,kind,shape,dtype,layer,source,sha256\n';
    expect(() => parseManifestCsv(`${header}../etc/passwd.npy,forward,1x2,bfloat16,,x,${'a'.repeat(64)}\n`)).toThrow('expected a plain .npy file name');
    expect(() => parseManifestCsv(`${header}a.npy,forward,1x2,bfloat16,,x,${'a'.repeat(64)}\na.npy,forward,1x2,bfloat16,,x,${'a'.repeat(64)}\n`)).toThrow('a.npy is listed twice');
    expect(() => parseManifestCsv(`${header}a.npy,forward,0x2,bfloat16,,x,${'a'.repeat(64)}\n`)).toThrow('expected dimensions joined by x');
    let error: unknown;
    try {
      parseManifestCsv(`${header}a.npy,forward,1x2,bfloat16,,x,XYZ\n`);
    } catch (e) {
      error = e;
    }
    expect((error as OptibenchError).oneLine()).toBe('manifest.csv:2: sha256: expected 64 lower-case hex digits');
  });
});
