/**
 * The shipped solutions through the organizer's evaluator, for real: each call in its own bubblewrap sandbox, on
 * real activations from the tiny LLaMA. The template speaks both protocols (cli, and http with its manifest's
 * protocol switched), the baseline and the reference the cli one; every lossless round trip is bit-exact, and
 * the recorded sizes are those the `zstd` CLI (an independent encoder) gives for the baseline at level 3.
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir } from '../../src/core/paths.js';
import { decodeNpy } from '../../src/evaluators/compression/npy.js';
import { generateSamples } from '../../src/evaluators/compression/samples/generate.js';
import { embeddedDatasetPath, ensurePresetModel } from '../../src/evaluators/compression/samples/model.js';
import { shippedSolutionDir, type ShippedSolution } from '../../src/evaluators/compression/solutions/index.js';
import { PYTHON } from '../helpers/python.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { sqlite3, TSX_LOADER } from '../store/helpers.js';

let work: string;
let db: string;
let files: string[];
let shapes: number[][];
/** In protocol cli the shipped solutions put the shape in front as a zstd skippable frame: magic and length (8 bytes) and Python's json.dumps of it. */
const shapeFrame = (shape: number[]) => 8 + `[${shape.join(', ')}]`.length;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-shipped-'));
  db = path.join(work, 'results.db');
  const modelDir = await ensurePresetModel(defaultCacheDir(), 'tiny');
  const entries = await generateSamples({ modelDir, datasetPath: embeddedDatasetPath(), outDir: path.join(work, 'samples'), count: 1, batchSize: 1, layers: [1], python: PYTHON });
  files = entries.map((e) => e.file);
  shapes = entries.map((e) => [...e.shape]);
  await writeFile(path.join(work, 'compression.yaml'), 'version: 1\nsamples: samples\noutputDir: reports\n');
  for (const name of ['baseline-zstd', 'template', 'reference-byte-planes'] as ShippedSolution[]) await cp(shippedSolutionDir(name), path.join(work, name), { recursive: true });
  await cp(shippedSolutionDir('template'), path.join(work, 'template-http'), { recursive: true });
  const manifest = path.join(work, 'template-http', 'optibench-solution.yaml');
  await writeFile(manifest, (await readFile(manifest, 'utf8')).replace(/^protocol: cli.*$/m, 'protocol: http'));
}, 180_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const runs: Record<string, string> = {};

interface Share {
  evaluatorShare: { roundTripSeconds: number; method: string; shareOfTaskTime: number };
  items: { compressSeconds: number; decompressSeconds: number }[];
}
const shareOf = async (runId: string) => (JSON.parse(await readFile(path.join(work, 'reports', runId, 'results.json'), 'utf8')) as { payload: Share }).payload;

function run(solution: string): { runId: string; rows: { item_index: number; compressed_bytes: number; bit_exact: number; failure: string | null }[] } {
  const result = spawnSync(process.execPath, [`--import=${TSX_LOADER}`, path.join(REPO_ROOT, 'src/cli/main.ts'), 'compression', 'run', solution, '-c', 'compression.yaml', '--db', 'results.db', '--as-baseline'], { cwd: work, encoding: 'utf8', timeout: 600_000 });
  if (result.status !== 0) throw new Error(`compression run ${solution} exited ${result.status}: ${result.stderr}`);
  const runId = /^optibench compression run (\S+):/m.exec(result.stdout)![1]!;
  runs[solution] = runId;
  return { runId, rows: sqlite3(db, `SELECT item_index, compressed_bytes, bit_exact, failure FROM compression_samples WHERE run_id = '${runId}' ORDER BY item_index`) };
}

describe('the shipped solutions in the sandboxed evaluator', () => {
  it('the baseline (cli): bit-exact, and its sizes are what the zstd CLI makes of the raw bytes at level 3', async () => {
    const { rows, runId } = run('baseline-zstd');
    expect(rows).toHaveLength(files.length);
    // The evaluator's own share: /bin/true in the same sandbox, twice; one such call is shorter than any call of a Python solution.
    const share = (await shareOf(runId)).evaluatorShare;
    expect(share.method).toBe('sandboxed /bin/true, twice');
    expect(share.roundTripSeconds).toBeGreaterThan(0);
    const calls = sqlite3<{ c: number; d: number }>(db, `SELECT compress_seconds AS c, decompress_seconds AS d FROM compression_samples WHERE run_id = '${runId}'`);
    for (const call of calls) expect(Math.min(call.c, call.d)).toBeGreaterThan(share.roundTripSeconds / 2);
    expect(share.shareOfTaskTime).toBeGreaterThan(0);
    expect(share.shareOfTaskTime).toBeLessThan(1);
    expect(await readFile(path.join(work, 'reports', runId, 'index.html'), 'utf8')).toContain("the evaluator's own share");
    for (const [i, row] of rows.entries()) {
      expect(row).toMatchObject({ bit_exact: 1, failure: null });
      const { bits } = decodeNpy(await readFile(path.join(work, 'samples', files[i]!)));
      const raw = path.join(work, `raw-${i}.bin`);
      await writeFile(raw, Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength));
      // From a file the CLI writes the content size as the library does; without a checksum, as the library.
      const zstd = spawnSync('zstd', ['-3', '-c', '--no-check', raw]);
      // The CLI's zstd and python-zstandard's bundled one may differ by a few bytes of block choices.
      expect(Math.abs(row.compressed_bytes - shapeFrame(shapes[i]!) - zstd.stdout.length)).toBeLessThanOrEqual(16);
    }
  }, 600_000);

  it('the template over cli and over http: bit-exact either way, the same sizes', () => {
    const cli = run('template').rows;
    const http = run('template-http').rows;
    expect(cli.every((r) => r.bit_exact === 1 && r.failure === null)).toBe(true);
    expect(http.every((r) => r.bit_exact === 1 && r.failure === null)).toBe(true);
    // The same codec output; only cli carries the shape frame in front (http sends the shape as a form field).
    expect(http.map((r) => r.compressed_bytes)).toEqual(cli.map((r, i) => r.compressed_bytes - shapeFrame(shapes[i]!)));
  }, 600_000);

  it("over http, the evaluator's share is a sample-sized round trip to a null server: less than the template's own round trips", async () => {
    const payload = await shareOf(runs['template-http']!);
    expect(payload.evaluatorShare.method).toBe('null http server round trip');
    const roundTrips = payload.items.map((i) => i.compressSeconds + i.decompressSeconds);
    // The same transfer without zstd and numpy's work: of the order of the template's round trips, not of a server's
    // start (which a wrongly placed clock would add); a loose bound, as both are timed on a shared machine.
    expect(payload.evaluatorShare.roundTripSeconds).toBeGreaterThan(0);
    expect(payload.evaluatorShare.roundTripSeconds).toBeLessThan(2 * Math.max(...roundTrips));
    expect(payload.evaluatorShare.shareOfTaskTime).toBeCloseTo(payload.evaluatorShare.roundTripSeconds / (roundTrips.reduce((a, b) => a + b, 0) / roundTrips.length), 9);
  });

  it('the reference: bit-exact and smaller than the baseline on every sample', () => {
    const reference = run('reference-byte-planes').rows;
    const baseline = sqlite3<{ item_index: number; compressed_bytes: number }>(db, `SELECT item_index, compressed_bytes FROM compression_samples WHERE run_id = '${runs['baseline-zstd']}' ORDER BY item_index`);
    expect(baseline).toHaveLength(reference.length);
    expect(reference.every((r) => r.bit_exact === 1 && r.failure === null)).toBe(true);
    reference.forEach((r, i) => expect(r.compressed_bytes).toBeLessThan(baseline[i]!.compressed_bytes));
  }, 600_000);
});
