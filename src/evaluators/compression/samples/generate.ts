/**
 * `optibench compression samples -o <dir>`: real activations and gradients from optibench's LLaMA on HellaSwag
 * text. The text is tokenized here with the model's own tokenizer; capture.py (PyTorch, the worker's model
 * code) runs forward and backward and writes the `<u2` .npy files; this side then reads every file back,
 * checks it against what capture.py announced, and writes manifest.csv with each file's sha256.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OptibenchError } from '../../../core/errors.js';
import { packageRoot } from '../../../core/paths.js';
import { workerPythonPath } from '../../../backends/pytorch/backend.js';
import { hellaswagTask } from '../../../tasks/hellaswag/index.js';
import { loadTokenizer } from '../../../tokenizers/tokenizer.js';
import { decodeNpy } from '../npy.js';
import { writeManifestCsv, type SampleEntry } from '../sample-manifest.js';

export const SEQUENCE_LENGTH = 800;

export interface GenerateSamplesOptions {
  readonly modelDir: string;
  readonly datasetPath: string;
  readonly outDir: string;
  /** Batches of text; each gives one sample per layer, source and kind. */
  readonly count: number;
  /** Sequences per batch (the tensors' first dimension). */
  readonly batchSize: number;
  readonly layers?: readonly number[];
  readonly bottleneckWidth?: number;
  readonly python: string;
  readonly threads?: number;
  readonly onProgress?: (message: string) => void;
}

/** capture.py ships in src/ (package.json `files`), read from there by the built code too. */
export function capturePath(): string {
  return path.join(packageRoot(), 'src', 'evaluators', 'compression', 'samples', 'capture.py');
}

/**
 * Token batches [count][batch][SEQUENCE_LENGTH] from the documents' text (query + gold ending, one document
 * after another, EOS between them when the tokenizer has one). A small dataset is cycled: the text repeats,
 * but the activations still differ because the repeat starts at a different position in the window.
 */
export async function tokenBatches(modelDir: string, datasetPath: string, count: number, batchSize: number): Promise<number[][][]> {
  const tokenizer = await loadTokenizer(modelDir);
  const docs = await hellaswagTask.load(datasetPath);
  if (docs.length === 0) throw new OptibenchError('the dataset has no documents', { file: datasetPath });
  const stream: number[] = [];
  const needed = count * batchSize * SEQUENCE_LENGTH;
  for (let i = 0; stream.length < needed; i++) {
    const doc = docs[i % docs.length]!;
    const ids = tokenizer.encode(`${doc.query} ${doc.choices[doc.gold] ?? doc.choices[0]}`);
    if (ids.length === 0) continue;
    stream.push(...ids);
    if (tokenizer.eosId !== undefined) stream.push(tokenizer.eosId);
  }
  const batches: number[][][] = [];
  for (let b = 0; b < count; b++) {
    const rows: number[][] = [];
    for (let r = 0; r < batchSize; r++) {
      const start = (b * batchSize + r) * SEQUENCE_LENGTH;
      rows.push(stream.slice(start, start + SEQUENCE_LENGTH));
    }
    batches.push(rows);
  }
  return batches;
}

interface Announced {
  file: string;
  kind: 'forward' | 'backward';
  layer: number;
  source: string;
  shape: number[];
}

function runCapture(python: string, args: string[], env: NodeJS.ProcessEnv): Promise<Announced[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', (e) => reject(new OptibenchError(`cannot run ${python}: ${e.message} (Debian's python3 with torch and numpy is needed)`)));
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new OptibenchError(`capture.py exited ${code}:\n${stderr.trim().split('\n').slice(-15).join('\n')}`));
        return;
      }
      try {
        resolve(stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Announced));
      } catch (e) {
        reject(new OptibenchError(`capture.py printed a line that is not JSON: ${(e as Error).message}`));
      }
    });
  });
}

export async function generateSamples(options: GenerateSamplesOptions): Promise<SampleEntry[]> {
  if (!Number.isInteger(options.count) || options.count < 1) throw new OptibenchError(`--count must be a positive integer, got ${options.count}`);
  await mkdir(options.outDir, { recursive: true });
  options.onProgress?.('tokenizing the dataset');
  const batches = await tokenBatches(options.modelDir, options.datasetPath, options.count, options.batchSize);
  const tokensFile = path.join(options.outDir, `.tokens-${process.pid}.json`);
  await writeFile(tokensFile, JSON.stringify({ batches }));
  const args = [capturePath(), '--model', options.modelDir, '--tokens', tokensFile, '--out', options.outDir];
  if (options.layers?.length) args.push('--layers', options.layers.join(','));
  if (options.bottleneckWidth !== undefined) args.push('--bottleneck', String(options.bottleneckWidth));
  if (options.threads !== undefined) args.push('--threads', String(options.threads));
  const existing = process.env.PYTHONPATH;
  const env = { ...process.env, PYTHONPATH: existing ? `${workerPythonPath()}${path.delimiter}${existing}` : workerPythonPath() };
  options.onProgress?.('running the model forward and backward (capture.py)');
  let announced: Announced[];
  try {
    announced = await runCapture(options.python, args, env);
  } finally {
    await rm(tokensFile, { force: true });
  }
  const entries: SampleEntry[] = [];
  for (const a of announced) {
    const bytes = await readFile(path.join(options.outDir, a.file));
    // Read back through the project's own .npy reader: the file must be what PROTOCOL.md says.
    const tensor = decodeNpy(bytes, a.file);
    if (tensor.shape.join('x') !== a.shape.join('x')) throw new OptibenchError(`${a.file}: capture.py announced shape ${a.shape.join('x')}, the file holds ${tensor.shape.join('x')}`);
    entries.push({
      file: a.file,
      kind: a.kind,
      shape: tensor.shape,
      dtype: 'bfloat16',
      layer: a.layer,
      source: a.source,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
  }
  if (entries.length === 0) throw new OptibenchError('capture.py wrote no samples');
  await writeFile(path.join(options.outDir, 'manifest.csv'), writeManifestCsv(entries));
  return entries;
}
