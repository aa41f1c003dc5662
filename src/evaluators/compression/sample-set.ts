/**
 * A sample set as the evaluator scores it: `manifest.csv` read and checked, every `.npy` read, its sha256 and
 * shape checked against the manifest. The set is the organizer's, but it may have been downloaded: a file that
 * does not match its line is refused with the file and line named.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { OptibenchError } from '../../core/errors.js';
import { decodeNpy, type Bf16Tensor } from './npy.js';
import { parseManifestCsv, type SampleEntry } from './sample-manifest.js';

export interface LoadedSample {
  readonly entry: SampleEntry;
  readonly tensor: Bf16Tensor;
}

export interface SampleSet {
  readonly folder: string;
  /** sha256 of manifest.csv: it names every file's sha256, so it identifies the whole set. */
  readonly manifestSha256: string;
  readonly samples: readonly LoadedSample[];
}

export async function loadSampleSet(folder: string): Promise<SampleSet> {
  const manifestFile = path.join(folder, 'manifest.csv');
  const isDir = await stat(folder).then((s) => s.isDirectory(), () => false);
  if (!isDir) throw new OptibenchError('the samples folder does not exist (make one with `optibench compression samples -o <dir>`)', { file: folder, key: 'samples' });
  const text = await readFile(manifestFile, 'utf8').catch(() => {
    throw new OptibenchError('the samples folder has no manifest.csv (PROTOCOL.md, "Samples")', { file: manifestFile });
  });
  const entries = parseManifestCsv(text, manifestFile);
  if (entries.length === 0) throw new OptibenchError('manifest.csv lists no samples', { file: manifestFile });
  const samples: LoadedSample[] = [];
  for (const [i, entry] of entries.entries()) {
    const file = path.join(folder, entry.file);
    const bytes = await readFile(file).catch(() => {
      throw new OptibenchError(`manifest.csv line ${i + 2} names ${entry.file}, which is not there`, { file });
    });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== entry.sha256) throw new OptibenchError(`sha256 ${sha256} is not the ${entry.sha256} of manifest.csv line ${i + 2}`, { file });
    const tensor = decodeNpy(bytes, file);
    if (tensor.shape.join('x') !== entry.shape.join('x')) throw new OptibenchError(`shape ${tensor.shape.join('x')} is not the ${entry.shape.join('x')} of manifest.csv line ${i + 2}`, { file });
    samples.push({ entry, tensor });
  }
  return { folder, manifestSha256: createHash('sha256').update(text).digest('hex'), samples };
}
