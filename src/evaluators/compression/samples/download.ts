/**
 * `optibench compression samples --from <url>`: a sample set from a URL, as the competition's bucket serves it
 * (manifest.csv and the files it names, side by side). Everything fetched is untrusted: the manifest is
 * parsed strictly (plain file names only, so nothing lands outside the folder), every file is capped at the
 * size its shape allows, hashed while it streams, and renamed to its name only once its sha256 and its .npy
 * header match the manifest. manifest.csv itself is written last, so a folder with a manifest is complete.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OptibenchError } from '../../../core/errors.js';
import { decodeNpy, elementCount } from '../npy.js';
import { parseManifestCsv, type SampleEntry } from '../sample-manifest.js';

/** Room for the .npy header on top of the data (numpy pads it to 64 or 128 bytes; version 2/3 headers can be longer). */
const NPY_HEADER_ALLOWANCE = 65_536;
const MANIFEST_CAP = 4 * 1024 * 1024;

export interface DownloadOptions {
  /** The folder's URL (manifest.csv is read from it) or the manifest's own URL. */
  readonly from: string;
  readonly outDir: string;
  /** No single file may be larger than this, whatever its shape says (default 2 GiB). */
  readonly maxFileBytes?: number;
  readonly onProgress?: (message: string) => void;
}

/** The manifest's URL and the base the file names resolve against. */
export function manifestUrl(from: string): { manifest: URL; base: URL } {
  let url: URL;
  try {
    url = new URL(from);
  } catch {
    throw new OptibenchError(`--from ${from}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OptibenchError(`--from ${from}: only http and https URLs are fetched`);
  if (url.pathname.endsWith('/manifest.csv')) return { manifest: url, base: new URL('.', url) };
  const base = new URL(url.href.endsWith('/') ? url.href : `${url.href}/`);
  return { manifest: new URL('manifest.csv', base), base };
}

async function get(url: URL): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow' });
  } catch (e) {
    throw new OptibenchError(`GET ${url.href}: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new OptibenchError(`GET ${url.href}: ${response.status} ${response.statusText}`);
  }
  return response;
}

/** The body, refused as soon as it passes `cap` bytes (a Content-Length over the cap is refused before reading). */
async function* cappedBody(response: Response, url: URL, cap: number): AsyncGenerator<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > cap) {
    await response.body?.cancel();
    throw new OptibenchError(`GET ${url.href}: ${declared} bytes announced, more than the ${cap} allowed`);
  }
  if (!response.body) return;
  let total = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > cap) throw new OptibenchError(`GET ${url.href}: more than the ${cap} bytes allowed`);
    yield chunk;
  }
}

async function downloadFile(entry: SampleEntry, base: URL, outDir: string, maxFileBytes: number): Promise<void> {
  const url = new URL(entry.file, base);
  const final = path.join(outDir, entry.file);
  const partial = path.join(outDir, `.${entry.file}.part-${process.pid}`);
  const cap = Math.min(maxFileBytes, elementCount(entry.shape) * 2 + NPY_HEADER_ALLOWANCE);
  const hash = createHash('sha256');
  const handle = await open(partial, 'w');
  try {
    try {
      for await (const chunk of cappedBody(await get(url), url, cap)) {
        hash.update(chunk);
        await handle.write(chunk);
      }
    } finally {
      await handle.close();
    }
    const digest = hash.digest('hex');
    if (digest !== entry.sha256) throw new OptibenchError(`${entry.file}: sha256 ${digest} does not match the manifest's ${entry.sha256} (GET ${url.href})`);
    const tensor = decodeNpy(await readFile(partial), entry.file);
    if (tensor.shape.join('x') !== entry.shape.join('x')) throw new OptibenchError(`${entry.file}: the file holds shape ${tensor.shape.join('x')}, the manifest says ${entry.shape.join('x')}`);
    await rename(partial, final);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
}

export async function downloadSamples(options: DownloadOptions): Promise<SampleEntry[]> {
  const { manifest, base } = manifestUrl(options.from);
  const maxFileBytes = options.maxFileBytes ?? 2 * 1024 ** 3;
  const chunks: Uint8Array[] = [];
  for await (const chunk of cappedBody(await get(manifest), manifest, MANIFEST_CAP)) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  const entries = parseManifestCsv(text, manifest.href);
  if (entries.length === 0) throw new OptibenchError('the manifest lists no samples', { file: manifest.href });
  await mkdir(options.outDir, { recursive: true });
  for (const [i, entry] of entries.entries()) {
    options.onProgress?.(`${i + 1}/${entries.length} ${entry.file}`);
    await downloadFile(entry, base, options.outDir, maxFileBytes);
  }
  await writeFile(path.join(options.outDir, 'manifest.csv'), text);
  return entries;
}
