/**
 * Shared by the PyTorch backend's tests: real HellaSwag requests on the embedded default model, the CLI run
 * from source (tsx, no build needed), backends loaded directly, and fake python executables for the fault
 * tests.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { packPairwise, packTree } from '../../src/backends/onnx/pack.js';
import { OnnxBackend } from '../../src/backends/onnx/backend.js';
import { PyTorchBackend } from '../../src/backends/pytorch/backend.js';
import type { Backend, BuildSettings, TokenAnswer, TokenRequest } from '../../src/core/backend.js';
import { buildPlan } from '../../src/evaluators/inference/plan.js';
import { selectSubset } from '../../src/core/subset.js';
import { readLlamaConfig } from '../../src/models/llama/hf-model.js';
import { hellaswagTask } from '../../src/tasks/hellaswag/index.js';
import { loadTokenizer } from '../../src/tokenizers/tokenizer.js';
import { PYTHON } from '../helpers/python.js';
import { HELLASWAG_FULL, REPO_ROOT, sharedFile } from '../helpers/shared.js';

// The built-in forward is what these tests check, even where transformers happens to be installed.
process.env.OPTIBENCH_PYTORCH_IMPLEMENTATION = 'builtin';

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Real HellaSwag validation requests, tokenized as a run tokenizes them. */
export async function realRequests(modelDir: string, limit: number, seed: number): Promise<TokenRequest[]> {
  const docs = selectSubset(await hellaswagTask.load(sharedFile(HELLASWAG_FULL)), limit, seed);
  const config = await readLlamaConfig(modelDir);
  return [...buildPlan(hellaswagTask, docs, await loadTokenizer(modelDir), config.max_position_embeddings).requests];
}

export function pytorchSession(extra: Record<string, string | number> = {}) {
  return { executionProvider: 'cpu' as const, intraOpThreads: 0, interOpThreads: 1, extra: { python: PYTHON, workerTimeoutSeconds: 120, ...extra } };
}

export async function loadPytorch(modelDir: string, cacheDir: string, build: BuildSettings): Promise<PyTorchBackend> {
  const backend = new PyTorchBackend();
  try {
    await backend.load({ modelDir, cacheDir, build, session: pytorchSession() });
  } catch (error) {
    await backend.close();
    throw error;
  }
  return backend;
}

export async function loadOnnx(modelDir: string, cacheDir: string, build: BuildSettings): Promise<OnnxBackend> {
  const backend = new OnnxBackend();
  await backend.load({ modelDir, cacheDir, build, session: { executionProvider: 'cpu', intraOpThreads: 0, interOpThreads: 1, extra: {} } });
  return backend;
}

/** Every answer of `batches`, by request id; the backend is closed afterwards. */
export async function answerAll(backend: Backend, batches: readonly (readonly TokenRequest[])[]): Promise<Map<number, TokenAnswer>> {
  const byId = new Map<number, TokenAnswer>();
  try {
    for (const batch of batches) for (const a of (await backend.loglikelihood(batch)).answers) byId.set(a.id, a);
  } finally {
    await backend.close();
  }
  return byId;
}

/** The per-token outputs of the worker's forward for each batch, packed as `tree` or pairwise. */
export async function tokenOutputs(backend: PyTorchBackend, batches: readonly (readonly TokenRequest[])[], tree: boolean): Promise<{ logprobs: number[]; greedy: number[] }> {
  const logprobs: number[] = [];
  const greedy: number[] = [];
  const int64 = (data: BigInt64Array, dims: number[]) => ({ type: 'int64' as const, data, dims });
  for (const batch of batches) {
    if (tree) {
      const p = packTree(batch);
      const out = await backend.forward({
        input_ids: int64(p.inputIds, [p.rows, p.seq]),
        position_ids: int64(p.positionIds, [p.rows, p.seq]),
        tree_mask: { type: 'bool', data: p.treeMask, dims: [p.rows, p.seq, p.seq] },
        score_positions: int64(p.scorePositions, [p.rows, p.scored]),
        target_ids: int64(p.targetIds, [p.rows, p.scored]),
      });
      for (const { row, scored } of p.requestSlots) for (const k of scored) {
        logprobs.push(out.logprobs[row * p.scored + k]!);
        greedy.push(out.greedy[row * p.scored + k]!);
      }
    } else {
      const p = packPairwise(batch);
      const out = await backend.forward({
        input_ids: int64(p.inputIds, [p.rows, p.seq]),
        position_ids: int64(p.positionIds, [p.rows, p.seq]),
        attention_mask: int64(p.attentionMask, [p.rows, p.total]),
        score_positions: int64(p.scorePositions, [p.rows, p.scored]),
        target_ids: int64(p.targetIds, [p.rows, p.scored]),
      });
      for (let row = 0; row < p.rows; row++) for (let k = 0; k < p.scoredPerRow[row]!; k++) {
        logprobs.push(out.logprobs[row * p.scored + k]!);
        greedy.push(out.greedy[row * p.scored + k]!);
      }
    }
  }
  return { logprobs, greedy };
}

export function maxDifference(requests: readonly TokenRequest[], a: Map<number, TokenAnswer>, b: Map<number, TokenAnswer>): number {
  return Math.max(...requests.map((r) => Math.abs(a.get(r.id)!.logprob - b.get(r.id)!.logprob)));
}

/** Per document, the choice with the highest summed log-probability (acc's prediction). */
export function predictions(requests: readonly TokenRequest[], byId: Map<number, TokenAnswer>): number[] {
  const byDoc = new Map<number, number[]>();
  for (const r of requests) byDoc.set(r.group, [...(byDoc.get(r.group) ?? []), byId.get(r.id)!.logprob]);
  return [...byDoc.values()].map((lls) => lls.indexOf(Math.max(...lls)));
}

export function greedyFlags(requests: readonly TokenRequest[], byId: Map<number, TokenAnswer>): boolean[] {
  return requests.map((r) => byId.get(r.id)!.isGreedy);
}

const CLI = [`--import=${pathToFileURL(path.join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href}`, path.join(REPO_ROOT, 'src/cli/main.ts')];

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `optibench ...` from source, as a user runs it, in `cwd`, with its own cache. */
export function optibench(args: readonly string[], cwd: string, cacheDir: string, timeoutMs = 240_000): CliResult {
  const t0 = performance.now();
  const result = spawnSync(process.execPath, [...CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, OPTIBENCH_CACHE_DIR: cacheDir },
    timeout: timeoutMs,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, ms: performance.now() - t0 };
}

/** The same, started in the background: the test can watch stderr and act on the process tree meanwhile. */
export function optibenchChild(args: readonly string[], cwd: string, cacheDir: string) {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd, env: { ...process.env, OPTIBENCH_CACHE_DIR: cacheDir } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
  child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  const done = new Promise<CliResult>((resolve) => {
    const t0 = performance.now();
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
  return { child, done, stderr: () => stderr };
}

/** Child process ids of `pid` (ps), e.g. the worker started by an optibench process. */
export function childPids(pid: number): number[] {
  const out = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped) counts as gone.
  const state = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim();
  return state !== '' && !state.startsWith('Z');
}

/** Polls until `check` holds or `ms` pass. */
export async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

/**
 * A fake "python" for the fault tests: a shell script that writes its pid to `pidFile` and then execs
 * `command` (the worker's own arguments follow it).
 */
export async function fakePython(dir: string, name: string, command: string, pidFile: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\necho $$ > '${pidFile}'\nexec ${command} "$@"\n`);
  await chmod(file, 0o755);
  return file;
}

export const FIXTURES = path.join(REPO_ROOT, 'test/pytorch/fixtures');
export { PYTHON };
