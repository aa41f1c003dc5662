/**
 * What the PyTorch worker uses, as the run reports it: `intraOpThreads: 0` is one thread per core there too
 * (Debian's torch 1.13 starts with 1, which made PyTorch look 4x slower than ONNX Runtime by default), and the
 * peak RSS is the worker's, where the model runs, read back from the worker.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PyTorchBackend, summedPeakRss } from '../../src/backends/pytorch/backend.js';
import { ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { lengthSortedBatches } from '../../src/evaluators/inference/schedule.js';
import { pytorchSession, realRequests, tempDir } from './helpers.js';

/** Physical cores among the CPUs this process may use, from lscpu and /proc (the worker inherits them). */
function coresByLscpu(): number {
  const allowed = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
  const cpus = new Set(
    allowed.split(',').flatMap((range) => {
      const [a, b] = range.split('-').map(Number);
      return Array.from({ length: (b ?? a!) - a! + 1 }, (_, i) => a! + i);
    }),
  );
  const rows = execFileSync('lscpu', ['-p=CPU,CORE,SOCKET'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(','));
  return new Set(rows.filter(([cpu]) => cpus.has(Number(cpu))).map(([, core, socket]) => `${socket}/${core}`)).size;
}

/** The python processes this test process started: the worker. */
function workerPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('python');
      } catch {
        return false;
      }
    })
    .map(Number);
}

let backend: PyTorchBackend;
let threads: unknown;
let modelDir: string;

beforeAll(async () => {
  const cacheDir = await tempDir('optibench-worker-resources-');
  modelDir = await ensureDefaultModel(cacheDir);
  backend = new PyTorchBackend();
  const info = await backend.load({ modelDir, cacheDir, build: { dtype: 'fp32', extra: {} }, session: pytorchSession() });
  threads = info.details.threads;
}, 120_000);

afterAll(async () => {
  await backend?.close();
});

describe('the PyTorch worker', () => {
  it('runs one thread per core when intraOpThreads is 0', () => {
    expect(pytorchSession().intraOpThreads).toBe(0);
    expect(threads).toBe(coresByLscpu());
  });

  it("reports its own peak RSS, the same as the kernel's VmHWM for its process", async () => {
    const requests = await realRequests(modelDir, 8, 3);
    for (const batch of lengthSortedBatches(requests, 8)) await backend.loglikelihood(batch);
    const reported = await backend.peakRssBytes();
    const [pid, ...others] = workerPids();
    expect(others).toEqual([]);
    const hwmKb = Number(/VmHWM:\s*(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    // Nothing runs in the worker between the two readings; allow a page or two of bookkeeping.
    expect(Math.abs(reported! - hwmKb * 1024)).toBeLessThanOrEqual(64 * 1024);
    // And it is the worker's, not optibench's own.
    expect(Math.abs(reported! - process.memoryUsage().rss)).toBeGreaterThan(1024 * 1024);
  });
});

describe("the worker's stats answer, read as untrusted", () => {
  it('adds up positive whole byte counts, one per rank, and takes nothing else', () => {
    expect(summedPeakRss([1000, 2500])).toBe(3500);
    expect(summedPeakRss(JSON.parse('[1e400]'))).toBeNull(); // Infinity
    expect(summedPeakRss([Number.NaN])).toBeNull();
    expect(summedPeakRss([1.5])).toBeNull();
    expect(summedPeakRss([-1])).toBeNull();
    expect(summedPeakRss([0])).toBeNull();
    expect(summedPeakRss(['1000'])).toBeNull();
    expect(summedPeakRss([])).toBeNull();
    expect(summedPeakRss({ 0: 1000 })).toBeNull();
    expect(summedPeakRss([Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER])).toBeNull();
  });
});
