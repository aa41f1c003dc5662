/**
 * The Python SUT template (src/evaluators/inference/sut/python-template) run for real with Debian's python3
 * and torch, driven over raw pipes as the organizer's harness drives a submission (PROTOCOL.md, version 1):
 * hello, load, a warm-up pass of random tokens, measured passes in a new order under new ids, close. Every
 * answer is checked against optibench's in-process ONNX backend on the same requests (fp32, the same greedy
 * flags), for several batch sizes; then the failure paths: a bad message, a stray print in the model code,
 * the end of stdin.
 *
 * The tolerance is 1e-5 per continuation token. Pass 2 (in the batch-size tests) asks for every continuation
 * token of real requests as a request of its own, so each single log-prob is held to 1e-5. Pass 1 asks for the real requests, whose
 * answers sum ~30 tokens to -100..-500: there each token's float32 log-prob (spacing 1.9e-6 at -16..-32) is
 * rounded differently by ONNX Runtime's and PyTorch's kernels (and by PyTorch's own as the batch, hence the
 * GEMM blocking, changes), and ~1e-5 in a sum is that rounding, not a disagreement.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFile, copyFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend } from '../../src/backends/index.js';
import type { Backend, TokenAnswer, TokenRequest } from '../../src/core/backend.js';
import { createRandom, seededPermutation } from '../../src/core/random.js';
import { defaultDatasetPath, ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { buildPlan } from '../../src/evaluators/inference/plan.js';
import { float32ArrayToFloat16 } from '../../src/models/float16.js';
import { listWeights, readLlamaConfig } from '../../src/models/llama/hf-model.js';
import { encodeSafetensors, readTensorAsFloat32, type TensorToWrite } from '../../src/models/llama/safetensors.js';
import { getTask } from '../../src/tasks/index.js';
import { loadTokenizer } from '../../src/tokenizers/tokenizer.js';
import { PYTHON, runPython } from '../helpers/python.js';
import { REPO_ROOT } from '../helpers/shared.js';

const TEMPLATE = path.join(REPO_ROOT, 'src/evaluators/inference/sut/python-template');
const SUT = path.join(TEMPLATE, 'sut.py');
const DOCUMENTS = 12;
/** Token-by-token requests are many (~30 per request): those of the first few documents are enough. */
const TOKEN_DOCUMENTS = 4;
/** Per continuation token (see above). */
const TOLERANCE = 1e-5;

interface Message {
  type: string;
  [key: string]: unknown;
}
interface Answer {
  id: number;
  logprob: number;
  greedy: boolean;
}
interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One SUT process: protocol messages written to its stdin, its stdout read line by line. */
class Sut {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every stdout line as written, to check that nothing but protocol lines came out. */
  readonly stdoutLines: string[] = [];
  stderr = '';
  readonly exited: Promise<Exit>;
  private readonly queue: string[] = [];
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
    const env: Record<string, string> = {};
    // Only the settings a test names: a SUT_* or OPTIBENCH_MODEL of the caller's shell must not leak in.
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && !key.startsWith('SUT_') && key !== 'OPTIBENCH_MODEL') env[key] = value;
    }
    // No __pycache__ written into the template's folder, which `optibench sut init` copies.
    const fixed = { SUT_DEVICE: 'cpu', PYTHONDONTWRITEBYTECODE: '1' };
    this.child = spawn(PYTHON, args, { cwd: options.cwd ?? os.tmpdir(), env: { ...env, ...fixed, ...options.env } });
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', (error) => reject(new Error(`cannot start ${PYTHON}: ${error.message}`)));
      this.child.once('close', (code, signal) => resolve({ code, signal }));
    });
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    const lines = createInterface({ input: this.child.stdout });
    lines.on('line', (line) => {
      this.stdoutLines.push(line);
      this.queue.push(line);
      this.wake?.();
    });
    lines.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  send(message: unknown): void {
    this.child.stdin.write((typeof message === 'string' ? message : JSON.stringify(message)) + '\n');
  }

  endInput(): void {
    this.child.stdin.end();
  }

  /** The next stdout line, parsed; fails with the SUT's stderr when it ends or stays silent. */
  async next(timeoutMs = 60_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.closed) throw new Error(`the SUT closed its stdout; stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no line from the SUT within ${timeoutMs} ms; stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 1000);
      });
      this.wake = undefined;
    }
    return JSON.parse(this.queue.shift()!) as Message;
  }

  /** Reads `answers` lines of pass `number` until `expected` answers have come; returns them and the line count. */
  async answers(number: number, expected: number): Promise<{ answers: Answer[]; lines: number }> {
    const answers: Answer[] = [];
    let lines = 0;
    while (answers.length < expected) {
      const message = await this.next();
      expect(message, JSON.stringify(message).slice(0, 500)).toMatchObject({ type: 'answers', pass: number });
      answers.push(...(message.answers as Answer[]));
      lines++;
    }
    return { answers, lines };
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** bfloat16 by cutting float32's low 16 bits (any rounding will do: both readers see the same stored bits). */
function toBfloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  return Uint16Array.from(bits, (b) => b >>> 16);
}

/** Requests with the ONNX backend's answer to each, by id. */
interface Workload {
  readonly requests: readonly TokenRequest[];
  readonly reference: ReadonlyMap<number, TokenAnswer>;
}

let work: string;
let cacheDir: string;
let modelDir: string;
let vocabSize: number;
/** The real requests of DOCUMENTS documents. */
let whole: Workload;
/**
 * Every continuation token of the first TOKEN_DOCUMENTS documents' requests as a request of its own, and
 * greedy probes (see greedyProbes).
 */
let tokens: Workload;
const running: Sut[] = [];

function start(args: readonly string[] = [SUT], options: { env?: Record<string, string>; cwd?: string } = {}): Sut {
  const sut = new Sut(args, options);
  running.push(sut);
  return sut;
}

/** The warm-up pass as the harness builds it: random tokens with the real requests' lengths. */
function warmupRequests(seed: number): object[] {
  const random = createRandom(seed);
  const token = () => Math.floor(random() * vocabSize);
  return whole.requests.map((r, i) => ({
    id: 5000 + i,
    group: r.group,
    context: r.context.map(token),
    continuation: r.continuation.map(token),
  }));
}

/** A measured pass: every request in a new order under new ids and groups; `original` maps an id back. */
function measuredPass(workload: Workload, seed: number): { requests: object[]; original: Map<number, number> } {
  const original = new Map<number, number>();
  const order = seededPermutation(workload.requests.length, seed);
  const out = order.map((index, k) => {
    const r = workload.requests[index]!;
    original.set(90_000 + k, r.id);
    return { id: 90_000 + k, group: 700 + r.group, context: r.context, continuation: r.continuation };
  });
  return { requests: out, original };
}

function expectValid(answers: readonly Answer[], ids: readonly number[]): void {
  expect(answers.map((a) => a.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
  for (const a of answers) {
    expect(Number.isFinite(a.logprob) && a.logprob <= 0, `answer ${JSON.stringify(a)}`).toBe(true);
    expect(typeof a.greedy).toBe('boolean');
  }
}

/** How far `a` is from `b`, in units of the tolerance for `request` (<= 1 passes). */
function excess(request: TokenRequest, a: number, b: number): number {
  return Math.abs(a - b) / (TOLERANCE * request.continuation.length);
}

/** Every answer against the ONNX backend's for the same request; returns them by original id. */
function checkAgainstReference(workload: Workload, answers: readonly Answer[], original: Map<number, number>): Map<number, Answer> {
  const byOriginal = new Map<number, Answer>();
  const requestsById = new Map(workload.requests.map((r) => [r.id, r]));
  let worst = 0;
  for (const a of answers) {
    const id = original.get(a.id)!;
    const want = workload.reference.get(id)!;
    worst = Math.max(worst, excess(requestsById.get(id)!, a.logprob, want.logprob));
    expect(a.greedy, `greedy flag of request ${id}`).toBe(want.isGreedy);
    byOriginal.set(id, a);
  }
  expect(worst).toBeLessThanOrEqual(1);
  return byOriginal;
}

/**
 * A whole session: hello, load, warm-up, measured passes 1, 2, ... of `passes` (default: the real requests),
 * close; checks every pass against its ONNX reference and returns what was said.
 */
async function session(sut: Sut, options: { load?: object; passes?: readonly Workload[] } = {}) {
  const { load = { op: 'load', modelDir, cacheDir }, passes: workloads = [whole] } = options;
  const hello = await sut.next();
  sut.send(load);
  const loaded = await sut.next();
  expect(loaded, sut.stderr).toMatchObject({ type: 'loaded' });
  const warmup = warmupRequests(7);
  sut.send({ op: 'pass', pass: 0, phase: 'warmup', requests: warmup });
  const warm = await sut.answers(0, warmup.length);
  expectValid(warm.answers, warmup.map((r) => (r as { id: number }).id));
  const passes = [];
  for (const [index, workload] of workloads.entries()) {
    const number = index + 1;
    const measured = measuredPass(workload, 10 + number);
    sut.send({ op: 'pass', pass: number, phase: 'measured', requests: measured.requests });
    const pass = await sut.answers(number, workload.requests.length);
    expectValid(pass.answers, [...measured.original.keys()]);
    passes.push({ lines: pass.lines, byId: checkAgainstReference(workload, pass.answers, measured.original) });
  }
  sut.send({ op: 'close' });
  expect(await sut.next()).toEqual({ type: 'bye' });
  const exit = await sut.exited;
  expect(exit, sut.stderr).toEqual({ code: 0, signal: null });
  // Nothing but protocol lines on stdout, and nothing after bye.
  for (const line of sut.stdoutLines) expect(typeof (JSON.parse(line) as Message).type, line).toBe('string');
  expect(sut.stdoutLines.at(-1)).toBe('{"type":"bye"}');
  return { hello, loaded, passes };
}

/** The ONNX backend's answers to `requests`, in chunks (its answers do not depend on the batch). */
async function onnxAnswers(onnx: Backend, requests: readonly TokenRequest[]): Promise<Map<number, TokenAnswer>> {
  const byId = new Map<number, TokenAnswer>();
  for (let i = 0; i < requests.length; i += 256) {
    for (const a of (await onnx.loglikelihood(requests.slice(i, i + 256))).answers) byId.set(a.id, a);
  }
  return byId;
}

/**
 * A random model's arg-max is almost never the real text's next token, so real requests are all non-greedy.
 * These are: for a few contexts, the arg-max token a1 (found by asking ONNX for every token of the
 * vocabulary), then a1 followed by the arg-max a2 after it (greedy), a1 followed by the runner-up (not), and
 * the runner-up alone (not).
 */
async function greedyProbes(onnx: Backend, contexts: readonly (readonly number[])[]): Promise<TokenRequest[]> {
  const ranked = async (prefixes: readonly (readonly number[])[]) => {
    const probes = prefixes.flatMap((context, i) =>
      Array.from({ length: vocabSize }, (_, token) => ({ id: i * vocabSize + token, group: i, context, continuation: [token] })),
    );
    const answers = await onnxAnswers(onnx, probes);
    return prefixes.map((_, i) => {
      const mine = probes.slice(i * vocabSize, (i + 1) * vocabSize).map((p) => answers.get(p.id)!);
      const best = mine.filter((a) => a.isGreedy);
      expect(best).toHaveLength(1);
      const runnerUp = mine.filter((a) => a !== best[0]).reduce((a, b) => (b.logprob > a.logprob ? b : a));
      return { best: best[0]!.id - i * vocabSize, runnerUp: runnerUp.id - i * vocabSize };
    });
  };
  const first = await ranked(contexts);
  const second = await ranked(contexts.map((c, i) => [...c, first[i]!.best]));
  return contexts.flatMap((context, i) =>
    [[first[i]!.best], [first[i]!.best, second[i]!.best], [first[i]!.best, second[i]!.runnerUp], [first[i]!.runnerUp]].map((continuation, k) => ({
      id: 100_000 + 4 * i + k,
      group: 1000 + i,
      context,
      continuation,
    })),
  );
}

beforeAll(async () => {
  // Fails (does not skip) without Debian's python3 and torch: the template is nothing without them.
  runPython(['-c', 'import torch, numpy']);
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-pysut-'));
  cacheDir = path.join(work, 'cache');
  modelDir = await ensureDefaultModel(cacheDir);
  const task = getTask('hellaswag');
  const docs = (await task.load(defaultDatasetPath())).slice(0, DOCUMENTS);
  const config = await readLlamaConfig(modelDir);
  vocabSize = config.vocab_size;
  const requests = [...buildPlan(task, docs, await loadTokenizer(modelDir), config.max_position_embeddings).requests];
  const single: TokenRequest[] = [];
  for (const r of requests.filter((r) => r.group < TOKEN_DOCUMENTS)) {
    r.continuation.forEach((token, k) => {
      single.push({ id: single.length, group: r.id, context: [...r.context, ...r.continuation.slice(0, k)], continuation: [token] });
    });
  }
  const onnx = createBackend('onnx');
  try {
    await onnx.load({
      modelDir,
      build: { dtype: 'fp32', extra: {} },
      session: { executionProvider: 'cpu', intraOpThreads: 0, interOpThreads: 0, extra: {} },
      cacheDir,
    });
    // Contexts of several lengths, cut from real ones.
    single.push(...(await greedyProbes(onnx, [5, 12, 30, 60].map((length, i) => requests[4 * i]!.context.slice(0, length)))));
    whole = { requests, reference: await onnxAnswers(onnx, requests) };
    tokens = { requests: single, reference: await onnxAnswers(onnx, single) };
  } finally {
    await onnx.close();
  }
});

afterAll(async () => {
  for (const sut of running) sut.kill();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the Python SUT template against the ONNX backend (fp32, real HellaSwag requests)', () => {
  const byBatchSize = new Map<number, Awaited<ReturnType<typeof session>>>();

  it('has real requests and a reference worth comparing with', () => {
    expect(whole.requests).toHaveLength(4 * DOCUMENTS);
    expect(whole.reference.size).toBe(whole.requests.length);
    const firstDocuments = whole.requests.filter((r) => r.group < TOKEN_DOCUMENTS);
    expect(tokens.requests).toHaveLength(firstDocuments.reduce((n, r) => n + r.continuation.length, 0) + 16);
    expect(tokens.reference.size).toBe(tokens.requests.length);
    // Not trivially equal: the log-probs spread far from one another (log 1/512 = -6.2 per token) ...
    const sums = [...whole.reference.values()].map((a) => a.logprob);
    expect(Math.max(...sums) - Math.min(...sums)).toBeGreaterThan(10);
    // ... and the greedy probes are what they were built to be: greedy, greedy, not, not.
    const probes = tokens.requests.filter((r) => r.id >= 100_000);
    expect(probes.map((r) => tokens.reference.get(r.id)!.isGreedy)).toEqual(Array.from({ length: 4 }, () => [true, true, false, false]).flat());
  });

  it.each([1, 7, 64])('SUT_BATCH_SIZE=%i: every answer within 1e-5 per token of ONNX, the same greedy flags, one answers line per batch', async (size) => {
    const sut = start([SUT], { env: { SUT_BATCH_SIZE: String(size), SUT_DTYPE: 'fp32' } });
    const result = await session(sut, { passes: [whole, tokens] });
    const { hello, loaded } = result;
    expect(hello).toMatchObject({
      type: 'hello',
      protocol: 'optibench-sut',
      version: 1,
      about: { device: 'cpu', dtype: 'fp32', batchSize: size, compile: 'off' },
    });
    const about = hello.about as { framework: string; sdpaAvailable: boolean; attention: string };
    expect(about.framework).toMatch(/^torch \d+\.\d+/);
    expect(about.attention).toBe(about.sdpaAvailable ? 'scaled_dot_product_attention' : 'matmul+softmax');
    expect((loaded.about as { weightsBytes: number }).weightsBytes).toBeGreaterThan(0);
    expect(result.passes[0]!.lines).toBe(Math.ceil(whole.requests.length / size));
    expect(result.passes[1]!.lines).toBe(Math.ceil(tokens.requests.length / size));
    byBatchSize.set(size, result);
  });

  it('answers do not depend on the batch size (within 1e-5 per token, the same greedy flags)', () => {
    expect([...byBatchSize.keys()]).toEqual([1, 7, 64]);
    const one = byBatchSize.get(1)!;
    for (const size of [7, 64]) {
      const other = byBatchSize.get(size)!;
      for (const [workload, a, b] of [[whole, one.passes[0]!.byId, other.passes[0]!.byId], [tokens, one.passes[1]!.byId, other.passes[1]!.byId]] as const) {
        for (const r of workload.requests) {
          expect(excess(r, a.get(r.id)!.logprob, b.get(r.id)!.logprob), `request ${r.id}, batch size ${size}`).toBeLessThanOrEqual(1);
          expect(a.get(r.id)!.greedy).toBe(b.get(r.id)!.greedy);
        }
      }
    }
  });
});

describe('starting it, and its settings', () => {
  it('runs as a team runs it: copied to sut/ of a repository, `python3 sut/sut.py` from the root', async () => {
    const repo = path.join(work, 'team-repo');
    await cp(TEMPLATE, path.join(repo, 'sut'), { recursive: true });
    // The answers are checked against ONNX inside session().
    await session(start(['sut/sut.py'], { cwd: repo, env: { SUT_BATCH_SIZE: '5' } }));
  });

  it('runs as `python3 sut.py` in its own folder, with the model from OPTIBENCH_MODEL when load names none', async () => {
    await session(start(['sut.py'], { cwd: TEMPLATE, env: { OPTIBENCH_MODEL: modelDir } }), { load: { op: 'load', cacheDir } });
  });

  it('reads a sharded checkpoint (model.safetensors.index.json) stored in F32, F16 and BF16 as the ONNX backend reads it', async () => {
    // The tiny model rewritten by optibench's own safetensors writer: embeddings and norms in F32, layer 0 in
    // F16, layer 1 and the head in BF16, in three shards. Both readers widen the same stored bits to float32.
    const sharded = path.join(work, 'sharded-model');
    await mkdir(sharded);
    for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) await copyFile(path.join(modelDir, file), path.join(sharded, file));
    const { weights } = await listWeights(modelDir);
    const shards = new Map<string, TensorToWrite[]>();
    const weightMap: Record<string, string> = {};
    for (const [name, { file, entry }] of weights) {
      const values = await readTensorAsFloat32(entry, file);
      const [shard, tensor]: [string, TensorToWrite] = name.includes('layers.0.')
        ? ['f16.safetensors', { name, dtype: 'F16', shape: entry.shape, data: new Uint8Array(float32ArrayToFloat16(values).buffer) }]
        : name.includes('layers.1.') || name === 'lm_head.weight'
          ? ['bf16.safetensors', { name, dtype: 'BF16', shape: entry.shape, data: new Uint8Array(toBfloat16(values).buffer) }]
          : ['f32.safetensors', { name, dtype: 'F32', shape: entry.shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) }];
      shards.set(shard, [...(shards.get(shard) ?? []), tensor]);
      weightMap[name] = shard;
    }
    for (const [shard, tensors] of shards) await writeFile(path.join(sharded, shard), encodeSafetensors(tensors));
    await writeFile(path.join(sharded, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    expect([...shards.keys()].sort()).toEqual(['bf16.safetensors', 'f16.safetensors', 'f32.safetensors']);

    const onnx = createBackend('onnx');
    let reference: Map<number, TokenAnswer>;
    try {
      await onnx.load({ modelDir: sharded, build: { dtype: 'fp32', extra: {} }, session: { executionProvider: 'cpu', intraOpThreads: 0, interOpThreads: 0, extra: {} }, cacheDir });
      reference = await onnxAnswers(onnx, whole.requests);
    } finally {
      await onnx.close();
    }
    // Another model indeed: half-precision weights move the answers far beyond the tolerance.
    expect(Math.max(...whole.requests.map((r) => Math.abs(reference.get(r.id)!.logprob - whole.reference.get(r.id)!.logprob)))).toBeGreaterThan(1e-3);
    await session(start(), { load: { op: 'load', modelDir: sharded, cacheDir }, passes: [{ requests: whole.requests, reference }] });
  });

  it('SUT_DTYPE=bf16 runs and stays near fp32; fp16 either runs or says why not (no half matmul on the CPU before torch 2)', async () => {
    const bf16 = start([SUT], { env: { SUT_DTYPE: 'bf16' } });
    expect(await bf16.next()).toMatchObject({ type: 'hello', about: { dtype: 'bf16' } });
    bf16.send({ op: 'load', modelDir, cacheDir });
    expect(await bf16.next()).toMatchObject({ type: 'loaded', about: { dtype: 'bf16' } });
    bf16.send({ op: 'pass', pass: 1, phase: 'measured', requests: whole.requests });
    const { answers } = await bf16.answers(1, whole.requests.length);
    expectValid(answers, whole.requests.map((r) => r.id));
    // bf16 keeps 2-3 significant digits: over ~30 tokens well under a nat from fp32, yet not fp32's numbers.
    const gaps = answers.map((a) => Math.abs(a.logprob - whole.reference.get(a.id)!.logprob));
    expect(Math.max(...gaps)).toBeLessThan(1);
    expect(Math.max(...gaps)).toBeGreaterThan(1e-4);
    bf16.endInput();
    expect((await bf16.exited).code).toBe(0);

    const fp16 = start([SUT], { env: { SUT_DTYPE: 'fp16' } });
    expect(await fp16.next()).toMatchObject({ type: 'hello', about: { dtype: 'fp16' } });
    fp16.send({ op: 'load', modelDir, cacheDir });
    const reply = await fp16.next();
    if (reply.type === 'loaded') {
      fp16.send({ op: 'close' });
      expect(await fp16.next()).toEqual({ type: 'bye' });
    } else {
      expect(reply.message).toMatch(/^RuntimeError: torch\.float16 on cpu: this PyTorch \(.*\) cannot multiply matrices in it .*; choose another SUT_DTYPE or SUT_DEVICE$/);
      expect((await fp16.exited).code).toBe(1);
    }
  });

  it('SUT_COMPILE=1 says in hello and on stderr whether this PyTorch can compile', async () => {
    const sut = start([SUT], { env: { SUT_COMPILE: '1' } });
    const hello = await sut.next();
    const about = hello.about as { compile: string; compileAvailable: boolean; framework: string };
    sut.endInput();
    expect(await sut.exited).toEqual({ code: 0, signal: null });
    if (about.compileAvailable) {
      expect(about.compile).toBe('on');
    } else {
      // Debian's torch 1.13: no torch.compile, and the SUT says so rather than silently running eager.
      expect(about.compile).toMatch(/^requested, but torch .* has no torch\.compile \(it needs >= 2\.0\): running eager$/);
      expect(sut.stderr).toContain('SUT_COMPILE=1: requested, but torch');
    }
  });
});

describe('what may go wrong', () => {
  it('a stray print, fd-1 write or libc puts in the model code goes to stderr, never into the protocol', async () => {
    // What a team's edit (or a library) does by accident: print at import, print and write to fd 1 in the forward.
    const repo = path.join(work, 'noisy-repo');
    await cp(TEMPLATE, path.join(repo, 'sut'), { recursive: true });
    await appendFile(
      path.join(repo, 'sut', 'llama.py'),
      [
        '',
        'import ctypes',
        'print("stray: print at import")',
        '_quiet_hidden_states = Llama.hidden_states',
        'def _noisy_hidden_states(self, input_ids):',
        '    print("stray: print in the forward")',
        '    os.write(1, b"stray: os.write(1) in the forward\\n")',
        '    libc = ctypes.CDLL(None)',
        '    libc.puts(b"stray: libc puts in the forward")',
        '    libc.fflush(None)',
        '    return _quiet_hidden_states(self, input_ids)',
        'Llama.hidden_states = _noisy_hidden_states',
        '',
      ].join('\n'),
    );
    const sut = start(['sut/sut.py'], { cwd: repo });
    await session(sut);
    for (const text of ['print at import', 'print in the forward', 'os.write(1) in the forward', 'libc puts in the forward']) {
      expect(sut.stderr).toContain(`stray: ${text}`);
    }
    expect(sut.stdoutLines.join('\n')).not.toContain('stray');
  });

  const bad: [string, (sut: Sut) => Promise<void>, RegExp][] = [
    ['a line that is not JSON', async (sut) => sut.send('{"op": "load", oops'), /not a JSON line/],
    ['an unknown op', async (sut) => sut.send({ op: 'dance' }), /unknown message/],
    ['a pass before load', async (sut) => sut.send({ op: 'pass', pass: 1, phase: 'measured', requests: [] }), /a pass before load/],
    ['a model directory that is not one', async (sut) => sut.send({ op: 'load', modelDir: path.join(work, 'nowhere') }), /FileNotFoundError: .*config\.json/],
    [
      'a request with an empty continuation',
      async (sut) => {
        sut.send({ op: 'load', modelDir, cacheDir });
        expect(await sut.next()).toMatchObject({ type: 'loaded' });
        sut.send({ op: 'pass', pass: 1, phase: 'measured', requests: [{ id: 3, group: 0, context: [1, 2], continuation: [] }] });
      },
      /request 3: continuation is not a non-empty list of token ids/,
    ],
    [
      'a token id outside the vocabulary',
      async (sut) => {
        sut.send({ op: 'load', modelDir, cacheDir });
        expect(await sut.next()).toMatchObject({ type: 'loaded' });
        sut.send({ op: 'pass', pass: 1, phase: 'measured', requests: [{ id: 4, group: 0, context: [1, 99999], continuation: [5] }] });
      },
      /request 4: context holds something other than token ids below 512/,
    ],
  ];
  it.each(bad)('%s: an error line with the reason, then a non-zero exit', async (_name, act, reason) => {
    const sut = start();
    expect(await sut.next()).toMatchObject({ type: 'hello' });
    await act(sut);
    const error = await sut.next();
    expect(error.type, JSON.stringify(error)).toBe('error');
    expect(error.message).toMatch(reason);
    const exit = await sut.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    // The error is the last word: nothing follows it on stdout.
    expect(JSON.parse(sut.stdoutLines.at(-1)!)).toEqual(error);
  });

  it('a bad setting is an error line before anything else', async () => {
    const sut = start([SUT], { env: { SUT_BATCH_SIZE: '0' } });
    const error = await sut.next();
    expect(error).toMatchObject({ type: 'error' });
    expect(error.message).toMatch(/SUT_BATCH_SIZE='0': expected a positive integer/);
    expect((await sut.exited).code).toBe(1);
  });

  it('an import that fails (no torch for this python, a broken edit) is an error line, not only a traceback', async () => {
    // -S leaves out site-packages, where Debian's torch lives: the interpreter of a sandbox without torch.
    const bare = start(['-S', SUT]);
    const noTorch = await bare.next();
    expect(noTorch).toMatchObject({ type: 'error' });
    expect(noTorch.message).toMatch(/^ModuleNotFoundError while importing, with .*: No module named 'torch'$/);
    expect((await bare.exited).code).toBe(1);

    const repo = path.join(work, 'broken-repo');
    await cp(TEMPLATE, path.join(repo, 'sut'), { recursive: true });
    await appendFile(path.join(repo, 'sut', 'llama.py'), '\ndef half_written(:\n');
    const broken = start(['sut/sut.py'], { cwd: repo });
    const error = await broken.next();
    expect(error).toMatchObject({ type: 'error' });
    expect(error.message).toMatch(/^SyntaxError while importing/);
    expect((await broken.exited).code).toBe(1);
    expect(broken.stdoutLines).toHaveLength(1);
  });

  it('the end of stdin ends it with status 0, after hello and after load', async () => {
    const early = start();
    expect(await early.next()).toMatchObject({ type: 'hello' });
    early.endInput();
    expect(await early.exited).toEqual({ code: 0, signal: null });
    expect(early.stdoutLines).toHaveLength(1);

    const loaded = start();
    expect(await loaded.next()).toMatchObject({ type: 'hello' });
    loaded.send({ op: 'load', modelDir, cacheDir });
    expect(await loaded.next()).toMatchObject({ type: 'loaded' });
    loaded.endInput();
    expect(await loaded.exited).toEqual({ code: 0, signal: null });
    expect(loaded.stdoutLines).toHaveLength(2);
  });
});
