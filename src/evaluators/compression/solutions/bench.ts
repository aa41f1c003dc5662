/**
 * `compression bench`: each shipped solution's ratio, order-0 bound and codec speed on a sample set, measured
 * in one run on this machine. The codecs are timed in-process by bench_codec.py (median of repeats), pinned to
 * one core with `taskset -c 0` where it exists, as the sandbox gives a solution one CPU.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OptibenchError } from '../../../core/errors.js';
import { order0Entropy } from '../entropy.js';
import { decodeNpy } from '../npy.js';
import { parseManifestCsv, type SampleEntry } from '../sample-manifest.js';
import { shippedSolutionDir, solutionsDir, type ShippedSolution } from './index.js';

export interface BenchRow {
  readonly solution: string;
  /** `forward hidden_state`, ..., or `all`. */
  readonly group: string;
  readonly samples: number;
  readonly originalBytes: number;
  readonly compressedBytes: number;
  readonly ratio: number;
  /** 16 / (the samples' order-0 entropy, bits per value, weighted by size). */
  readonly boundRatio: number;
  readonly compressMBps: number;
  readonly decompressMBps: number;
  /** Every round trip bit-exact. */
  readonly exact: boolean;
}

export interface BenchReport {
  readonly samplesDir: string;
  readonly cpu: string;
  readonly pinned: string | null;
  readonly repeat: number;
  /** The 1-minute load average when the run ended: other work on the machine slows every figure. */
  readonly loadAverage: number;
  readonly rows: readonly BenchRow[];
}

interface Measured {
  file: string;
  original_bytes: number;
  compressed_bytes: number;
  compress_s: number;
  decompress_s: number;
  exact: boolean;
}

export function cpuModel(): string {
  const lscpu = spawnSync('lscpu', [], { encoding: 'utf8' });
  const line = lscpu.status === 0 ? /^Model name:\s*(.+)$/m.exec(lscpu.stdout)?.[1] : undefined;
  return line?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

function runHarness(python: string, solution: string, files: string[], repeat: number, pin: boolean): Promise<Measured[]> {
  const args = [path.join(solutionsDir(), 'bench_codec.py'), '--solution', solution, '--repeat', String(repeat), ...files];
  const [cmd, argv] = pin ? ['taskset', ['-c', '0', python, ...args]] : [python, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (e) => reject(new OptibenchError(`cannot run ${cmd}: ${e.message}`)));
    child.on('close', (code) =>
      code === 0
        ? resolve(stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Measured))
        : reject(new OptibenchError(`bench_codec.py for ${path.basename(solution)} exited ${code}:\n${stderr.trim()}`)),
    );
  });
}

function aggregate(solution: string, group: string, items: { entry: SampleEntry; m: Measured; entropyBits: number }[]): BenchRow {
  const original = items.reduce((a, x) => a + x.m.original_bytes, 0);
  const compressed = items.reduce((a, x) => a + x.m.compressed_bytes, 0);
  const values = original / 2;
  const boundBits = items.reduce((a, x) => a + (x.entropyBits * x.m.original_bytes) / 2, 0);
  return {
    solution,
    group,
    samples: items.length,
    originalBytes: original,
    compressedBytes: compressed,
    ratio: original / compressed,
    boundRatio: boundBits === 0 ? Infinity : (16 * values) / boundBits,
    compressMBps: original / 1e6 / items.reduce((a, x) => a + x.m.compress_s, 0),
    decompressMBps: original / 1e6 / items.reduce((a, x) => a + x.m.decompress_s, 0),
    exact: items.every((x) => x.m.exact),
  };
}

export async function benchSolutions(options: { samplesDir: string; solutions: readonly ShippedSolution[]; python: string; repeat: number; onProgress?: (m: string) => void }): Promise<BenchReport> {
  const manifestPath = path.join(options.samplesDir, 'manifest.csv');
  const text = await readFile(manifestPath, 'utf8').catch(() => {
    throw new OptibenchError(`no manifest.csv in ${options.samplesDir} (make one with: optibench compression samples -o ${options.samplesDir})`);
  });
  const entries = parseManifestCsv(text, manifestPath);
  const entropy = new Map<string, number>();
  for (const e of entries) entropy.set(e.file, order0Entropy(decodeNpy(await readFile(path.join(options.samplesDir, e.file)), e.file).bits).bitsPerValue);
  const pin = hasTaskset();
  const rows: BenchRow[] = [];
  for (const solution of options.solutions) {
    options.onProgress?.(`timing ${solution}`);
    const files = entries.map((e) => path.join(options.samplesDir, e.file));
    const measured = await runHarness(options.python, shippedSolutionDir(solution), files, options.repeat, pin);
    const items = entries.map((entry, i) => ({ entry, m: measured[i]!, entropyBits: entropy.get(entry.file)! }));
    const groups = [...new Set(entries.map((e) => `${e.kind} ${e.source}`))].sort();
    for (const g of groups) rows.push(aggregate(solution, g, items.filter((x) => `${x.entry.kind} ${x.entry.source}` === g)));
    rows.push(aggregate(solution, 'all', items));
  }
  return { samplesDir: options.samplesDir, cpu: cpuModel(), pinned: pin ? 'taskset -c 0' : null, repeat: options.repeat, loadAverage: os.loadavg()[0] ?? 0, rows };
}

export function formatBenchTable(report: BenchReport): string {
  const head = ['solution', 'kind', 'n', 'ratio', 'order-0 bound', 'of bound', 'compress MB/s', 'decompress MB/s', 'bit-exact'];
  const body = report.rows.map((r) => [
    r.solution,
    r.group,
    String(r.samples),
    `${r.ratio.toFixed(3)}x`,
    `${r.boundRatio.toFixed(3)}x`,
    `${((100 * r.ratio) / r.boundRatio).toFixed(1)}%`,
    r.compressMBps.toFixed(0),
    r.decompressMBps.toFixed(0),
    r.exact ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `samples: ${report.samplesDir}; cpu: ${report.cpu}; ${report.pinned ? `one core (${report.pinned})` : 'not pinned (no taskset)'}; median of ${report.repeat} runs, in-process; load average ${report.loadAverage.toFixed(2)} on ${os.cpus().length} cores`,
    line(head),
    ...body.map(line),
  ].join('\n');
}
