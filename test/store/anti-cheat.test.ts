/**
 * The run-side anti-cheat measures on real runs of the embedded tiny model: the seeded item order, the config
 * hash in the results, and the canary check, which passes on the real ONNX backend and catches a backend
 * that answers from a cache keyed by request id.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createBackend } from '../../src/backends/index.js';
import type { Backend, BatchAnswer, LoadInfo, LoadRequest, TokenAnswer, TokenRequest } from '../../src/core/backend.js';
import { configSchema, type ConfigInput, type RunConfig } from '../../src/evaluators/inference/config.js';
import { defaultDatasetPath } from '../../src/evaluators/inference/embedded-default.js';
import { REPO_ROOT } from '../helpers/shared.js';
import type { InferenceResult } from '../../src/evaluators/inference/results.js';
import { RunFailure, runEvaluation, type PreparedRun, type RunOptions } from '../../src/evaluators/inference/runner.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-anticheat-'));
});

function config(input: ConfigInput = {}): RunConfig {
  return configSchema.parse({ cacheDir: path.join(work, 'cache'), outputDir: work, limit: 16, batchSize: 4, ...input });
}

/** The real ONNX backend, with every batch it was asked recorded. */
class RecordingBackend implements Backend {
  readonly name = 'onnx' as const;
  readonly batches: TokenRequest[][] = [];
  private readonly inner = createBackend('onnx');
  load(request: LoadRequest): Promise<LoadInfo> {
    return this.inner.load(request);
  }
  loglikelihood(batch: readonly TokenRequest[]): Promise<BatchAnswer> {
    this.batches.push([...batch]);
    return this.inner.loglikelihood(batch);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * The cheater: computes a request the first time its id is seen (on the real backend) and answers every later
 * request with that id from its cache, so repeats cost nothing.
 */
class CachingByIdBackend implements Backend {
  readonly name = 'onnx' as const;
  private readonly inner = createBackend('onnx');
  private readonly cache = new Map<number, TokenAnswer>();
  load(request: LoadRequest): Promise<LoadInfo> {
    return this.inner.load(request);
  }
  async loglikelihood(batch: readonly TokenRequest[]): Promise<BatchAnswer> {
    const fresh = batch.filter((r) => !this.cache.has(r.id));
    const computed = fresh.length ? await this.inner.loglikelihood(fresh) : { answers: [], positions: 0, paddedPositions: 0 };
    for (const answer of computed.answers) this.cache.set(answer.id, answer);
    return { answers: batch.map((r) => this.cache.get(r.id)!), positions: computed.positions, paddedPositions: computed.paddedPositions };
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function run(input: ConfigInput, options: RunOptions): Promise<{ results: InferenceResult; prepared: PreparedRun; batches: TokenRequest[][] }> {
  const backend = new RecordingBackend();
  let prepared: PreparedRun | undefined;
  const results = await runEvaluation(config(input), { onPrepared: (p) => (prepared = p) }, undefined, { ...options, createBackend: () => backend });
  return { results, prepared: prepared!, batches: backend.batches };
}

const length = (r: TokenRequest) => r.context.length + r.continuation.length;

describe('the item order', () => {
  it('is a permutation of the selected items fixed by the seed, recorded in the results, and the same seed gives the same schedule', async () => {
    const a = await run({}, { shuffleSeed: 42 });
    const b = await run({}, { shuffleSeed: 42 });
    const c = await run({}, { shuffleSeed: 43 });
    expect(a.results.payload.shuffleSeed).toBe(42);
    expect(c.results.payload.shuffleSeed).toBe(43);
    const selected = a.results.payload.items.map((item) => item.index);
    expect([...a.prepared.itemOrder].sort((x, y) => x - y)).toEqual(selected);
    expect(a.prepared.itemOrder).not.toEqual(selected);
    expect(b.prepared.itemOrder).toEqual(a.prepared.itemOrder);
    expect(c.prepared.itemOrder).not.toEqual(a.prepared.itemOrder);
    // The same seed: the backend saw the very same batches; another seed: other batches.
    const tokens = (batches: TokenRequest[][]) => batches.map((batch) => batch.map((r) => [...r.context, -1, ...r.continuation]));
    expect(tokens(b.batches)).toEqual(tokens(a.batches));
    expect(tokens(c.batches)).not.toEqual(tokens(a.batches));
    // The results list items in dataset order whatever the order they ran in, with the same numbers.
    expect(c.results.payload.items.map((item) => item.index)).toEqual(selected);
    c.results.payload.items.forEach((item, i) => item.loglikelihoods.forEach((ll, j) => expect(ll).toBeCloseTo(a.results.payload.items[i]!.loglikelihoods[j]!, 4)));
  });

  it('the length-sorted schedule keeps the shuffled order among requests of equal length', async () => {
    const { prepared, batches } = await run({ warmupBatches: 0 }, { shuffleSeed: 7 });
    const issued = batches.flat();
    let ties = 0;
    for (let i = 1; i < issued.length; i++) {
      const [before, after] = [issued[i - 1]!, issued[i]!];
      if (length(before) !== length(after) || before.group === after.group) continue;
      ties++;
      // group = the document's position in the shuffled order
      expect(after.group).toBeGreaterThan(before.group);
    }
    expect(ties).toBeGreaterThan(3);
    expect(prepared.itemOrder).toHaveLength(16);
  });

  it('a random seed is drawn when none is given, and recorded', async () => {
    const a = await run({}, {});
    const b = await run({}, {});
    expect(Number.isInteger(a.results.payload.shuffleSeed)).toBe(true);
    expect(a.results.payload.shuffleSeed).not.toBe(b.results.payload.shuffleSeed);
  });
});

describe('the config hash', () => {
  // The identity of what ran, worked out independently in Python: outputDir and cacheDir left out, the dataset
  // replaced by its file name and its content's sha256, the model directory and plugin files by their names.
  const PYTHON = [
    'import sys, json, hashlib, os',
    'c, sha = json.load(sys.stdin)',
    "c.pop('outputDir'); c.pop('cacheDir')",
    "name = lambda p: None if p is None else os.path.basename(p)",
    "is_path = lambda p: p.startswith('.') or p.startswith('/') or p.endswith(('.js', '.mjs', '.ts'))",
    "c['dataset'] = {'name': name(c['dataset']), 'sha256': sha}",
    "c['model'] = name(c['model'])",
    "c['plugins'] = [(name(p) if is_path(p) else p) if isinstance(p, str) else (dict(p, name=name(p['name'])) if is_path(p['name']) else p) for p in c['plugins']]",
    "print(hashlib.sha256(json.dumps(c, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode()).hexdigest())",
  ].join('\n');

  const pythonHash = (results: InferenceResult) => {
    const python = spawnSync('python3', ['-c', PYTHON], { input: JSON.stringify([results.config, results.payload.task.dataset.sha256]), encoding: 'utf8' });
    expect(python.stderr).toBe('');
    expect(python.status).toBe(0);
    return python.stdout.trim();
  };

  it('is the sha256 of the config as Python writes canonical JSON (sorted keys, no spaces), where it writes left out and paths stand for what they name', async () => {
    const { results } = await run({ plugins: ['head-pruning', { name: path.join(REPO_ROOT, 'test/fixtures/plugins/third-party.mjs'), options: { batchMultiplier: 2 } }] }, { shuffleSeed: 1 });
    expect(results.config.outputDir).toBeTruthy();
    expect(results.subject.configSha256).toBe(pythonHash(results));
  });

  it('does not depend on where the dataset is reached from: a symlink to the same file hashes the same, another file does not', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-config-hash-'));
    const original = path.join(dir, 'val.jsonl');
    await copyFile(defaultDatasetPath(), original);
    await symlink(original, path.join(dir, 'linked.jsonl'));
    await mkdir(path.join(dir, 'elsewhere'));
    await symlink(original, path.join(dir, 'elsewhere', 'val.jsonl'));
    const direct = (await run({ dataset: original }, { shuffleSeed: 1 })).results;
    const throughLink = (await run({ dataset: path.join(dir, 'elsewhere', 'val.jsonl') }, { shuffleSeed: 1 })).results;
    expect(throughLink.payload.task.dataset.path).not.toBe(direct.payload.task.dataset.path);
    expect(throughLink.subject.configSha256).toBe(direct.subject.configSha256);
    // Another name for the same bytes is another config (the name is part of what a reader sees), and other bytes are.
    const renamed = (await run({ dataset: path.join(dir, 'linked.jsonl') }, { shuffleSeed: 1 })).results;
    expect(renamed.subject.configSha256).not.toBe(direct.subject.configSha256);
    await writeFile(path.join(dir, 'changed.jsonl'), (await readFile(original, 'utf8')).replace(/\n$/, '\n\n'));
    await rename(path.join(dir, 'changed.jsonl'), path.join(dir, 'elsewhere', 'val.jsonl'));
    const changed = (await run({ dataset: path.join(dir, 'elsewhere', 'val.jsonl') }, { shuffleSeed: 1 })).results;
    expect(changed.subject.configSha256).not.toBe(direct.subject.configSha256);
    for (const r of [direct, throughLink, renamed, changed]) expect(r.subject.configSha256).toBe(pythonHash(r));
  });
});

describe('the canary', () => {
  it('passes on the real ONNX backend; its requests are neither scored nor counted in the throughput', async () => {
    const plain = await run({ repeats: 2 }, { shuffleSeed: 5 });
    const checked = await run({ repeats: 2 }, { shuffleSeed: 5, canary: { items: 3, tolerance: 1e-4 } });
    expect(checked.results.payload.canary).toMatchObject({ items: 3, requests: 12, tolerance: 1e-4 });
    expect(checked.results.payload.canary!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    // 3 documents of 4 endings re-issued in each of the 2 passes, in batches of their own.
    expect(checked.batches.flat().length - plain.batches.flat().length).toBe(2 * 12);
    expect(checked.results.payload.throughput).toMatchObject({ requests: 64, tokensThroughModel: plain.results.payload.throughput.tokensThroughModel, batches: plain.results.payload.throughput.batches });
    expect(checked.results.payload.items).toHaveLength(16);
    expect(checked.results.metrics).toEqual(plain.results.metrics);
    // A canary batch carries a document's own ids with every ending moved to another id.
    const byId = new Map(plain.batches.flat().map((r) => [r.id, r]));
    const moved = checked.batches.flat().filter((r) => byId.get(r.id)!.continuation.join() !== r.continuation.join());
    expect(moved).toHaveLength(2 * 12);
  });

  it('fails the run, saying why, against a backend that answers from a cache keyed by request id', async () => {
    const cheat = (canary: RunOptions['canary']) =>
      runEvaluation(config({ repeats: 2 }), {}, undefined, { shuffleSeed: 5, canary, createBackend: () => new CachingByIdBackend() });
    // Without the canary the cheater goes unnoticed: its answers are right, and its repeats cost nothing.
    const unnoticed = await cheat(undefined);
    expect(unnoticed.status).toBe('complete');
    expect(unnoticed.payload.repeatMaxAbsDiff).toBe(0);

    const failure = await cheat({ items: 2, tolerance: 1e-4 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(RunFailure);
    const partial = (failure as RunFailure).partial;
    expect(partial.status).toBe('incomplete');
    expect(partial.error).toMatch(/^canary check failed: item \d+ was issued again with its endings in another order, and request \d+ \(now carrying the ending of request \d+\) got log-likelihood -?[\d.]+(e-?\d+)?, where that ending first got -?[\d.]+(e-?\d+)? \(difference [\d.e-]+ > tolerance 0\.0001\): the backend answered from something other than the tokens it was given$/);
  });
});
