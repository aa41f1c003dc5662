/**
 * `compression samples --from <url>` against a local HTTP server on 127.0.0.1: files made by numpy and hashed
 * by Python's hashlib (independent of the code under test), then a tampered file, a 404, a manifest naming
 * `../x.npy` and a file larger than its shape allows; nothing partial may stay behind under a final name.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadSamples, manifestUrl } from '../../src/evaluators/compression/samples/download.js';
import { decodeNpy } from '../../src/evaluators/compression/npy.js';
import { runPython } from '../helpers/python.js';

let root: string;
let server: Server;
let base: string;
/** What the server answers, by path; set per test. */
let routes: Map<string, Buffer | { chunked: Buffer }>;
const files: Record<string, Buffer> = {};
let manifestText: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-download-'));
  const src = path.join(root, 'src');
  // numpy writes the samples and hashlib hashes them: the manifest the "bucket" serves.
  manifestText = runPython([
    '-c',
    `
import hashlib, os, numpy as np
os.makedirs(${JSON.stringify(src)})
rows = ["file,kind,shape,dtype,layer,source,sha256"]
for name, kind, shape in [("a.npy", "forward", (1, 8, 80)), ("b.npy", "backward", (2, 3))]:
    bits = (np.random.default_rng(7).standard_normal(shape).astype(np.float32).view(np.uint32) >> 16).astype("<u2")
    p = os.path.join(${JSON.stringify(src)}, name)
    np.save(p, bits)
    digest = hashlib.sha256(open(p, "rb").read()).hexdigest()
    rows.append(f"{name},{kind},{'x'.join(map(str, shape))},bfloat16,3,hidden_state,{digest}")
print("\\n".join(rows))
`,
  ]);
  for (const name of ['a.npy', 'b.npy']) files[name] = await readFile(path.join(src, name));
  server = createServer((req, res) => {
    const body = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!body) {
      res.writeHead(404).end('no such file');
      return;
    }
    if (Buffer.isBuffer(body)) {
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
      return;
    }
    res.writeHead(200); // no Content-Length: chunked, so the cap must hold while streaming
    res.end(body.chunked);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  base = `http://127.0.0.1:${address.port}/bucket/round-1`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

function serve(manifest: string, overrides: Record<string, Buffer | { chunked: Buffer } | null> = {}): void {
  routes = new Map();
  routes.set('/bucket/round-1/manifest.csv', Buffer.from(manifest));
  for (const [name, bytes] of Object.entries({ ...files, ...overrides })) if (bytes) routes.set(`/bucket/round-1/${name}`, bytes);
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

describe('downloadSamples', () => {
  it('fetches manifest.csv and every file it names, checking sha256 and shape', async () => {
    serve(manifestText);
    const out = path.join(root, 'ok');
    const entries = await downloadSamples({ from: base, outDir: out });
    expect(entries.map((e) => e.file)).toEqual(['a.npy', 'b.npy']);
    expect(await listing(out)).toEqual(['a.npy', 'b.npy', 'manifest.csv']);
    expect((await readFile(path.join(out, 'a.npy'))).equals(files['a.npy']!)).toBe(true);
    expect(decodeNpy(await readFile(path.join(out, 'b.npy'))).shape).toEqual([2, 3]);
    expect(await readFile(path.join(out, 'manifest.csv'), 'utf8')).toBe(manifestText);
    // The manifest's own URL works as well as the folder's.
    await downloadSamples({ from: `${base}/manifest.csv`, outDir: path.join(root, 'ok2') });
    expect(await listing(path.join(root, 'ok2'))).toEqual(['a.npy', 'b.npy', 'manifest.csv']);
  });

  it('refuses a tampered file (sha256 mismatch) and leaves neither it nor a manifest behind', async () => {
    const tampered = Buffer.from(files['b.npy']!);
    tampered[tampered.length - 1]! ^= 1;
    serve(manifestText, { 'b.npy': tampered });
    const out = path.join(root, 'tampered');
    await expect(downloadSamples({ from: base, outDir: out })).rejects.toThrow(/b\.npy: sha256 [0-9a-f]{64} does not match the manifest's/);
    expect(await listing(out)).toEqual(['a.npy']);
  });

  it('reports a 404 with the URL', async () => {
    serve(manifestText, { 'b.npy': null });
    const out = path.join(root, 'missing');
    await expect(downloadSamples({ from: base, outDir: out })).rejects.toThrow(`GET ${base}/b.npy: 404 Not Found`);
    expect(await listing(out)).toEqual(['a.npy']);
  });

  it('refuses a manifest naming a file outside the folder before fetching anything', async () => {
    serve(manifestText.replace('a.npy,', '../x.npy,'));
    const out = path.join(root, 'escape');
    await expect(downloadSamples({ from: base, outDir: out })).rejects.toThrow('expected a plain .npy file name (no folders, no leading dot), got "../x.npy"');
    expect(await listing(out)).toEqual([]);
    expect(await listing(root)).not.toContain('x.npy');
  });

  it('stops a file larger than its shape allows, announced or streamed', async () => {
    const big = Buffer.concat([files['b.npy']!, Buffer.alloc(70_000)]);
    for (const body of [big, { chunked: big }]) {
      serve(manifestText, { 'b.npy': body });
      const out = path.join(root, `big-${Buffer.isBuffer(body) ? 'length' : 'chunked'}`);
      await expect(downloadSamples({ from: base, outDir: out })).rejects.toThrow(/b\.npy: .*more than the 65548 (bytes )?allowed/);
      expect(await listing(out)).toEqual(['a.npy']);
    }
  });

  it('accepts only http and https URLs', () => {
    expect(() => manifestUrl('file:///etc/passwd')).toThrow('only http and https URLs are fetched');
    expect(() => manifestUrl('not a url')).toThrow('not a URL');
    expect(manifestUrl('https://h/b/r1').manifest.href).toBe('https://h/b/r1/manifest.csv');
  });
});
