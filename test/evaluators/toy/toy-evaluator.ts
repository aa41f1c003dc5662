/**
 * A toy evaluator, defined only here, to show that a competition is a module plus one registry entry
 * (`OPTIBENCH_EVALUATORS`) and touches no inference code: it imports optibench's core contracts and nothing else
 * of optibench.
 *
 * The competition: a team's entry is a shell program that reads words (one per line, `$TOY_INPUT`) and writes
 * each reversed (`$TOY_OUTPUT`). It runs in the sandbox; its output is read outside, without following links and
 * size-capped, and scored word by word. Quality (the share reversed right) ranks, higher is better; a run passes
 * its verdict when it is at least as good as the baseline's. Plugins for it may rewrite the words first
 * (`prepareWords`, the toy's hook map).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { canonicalSha256 } from '../../../src/core/canonical-json.js';
import { loadConfigFile } from '../../../src/core/config-file.js';
import type { Evaluator } from '../../../src/core/evaluator.js';
import { OptibenchError } from '../../../src/core/errors.js';
import type { BaseHooks } from '../../../src/core/plugin.js';
import { looksLikePath, pluginEntrySchema, pluginSpec } from '../../../src/core/plugin-entry.js';
import { parseResult, readCappedText, readResultJson } from '../../../src/core/result-file.js';
import { RESULT_SCHEMA_ID, RESULT_VERSION, resultSchema, type Result } from '../../../src/core/result.js';
import type { EvaluatorTables } from '../../../src/core/store.js';

export interface ToyHooks extends BaseHooks {
  prepareWords?(words: readonly string[]): string[];
}

const configSchema = z.strictObject({
  words: z.array(z.string().regex(/^[a-z]+$/, 'lower-case letters only')).min(1).default(['alpha', 'bravo', 'charlie', 'delta']),
  timeoutSeconds: z.number().positive().default(20),
  plugins: z.array(pluginEntrySchema).default([]),
  outputDir: z.string().default('reports'),
});
type ToyConfig = z.infer<typeof configSchema>;

const itemSchema = z.object({ index: z.number().int().nonnegative(), word: z.string(), answer: z.string(), correct: z.boolean() });
type ToyItem = z.infer<typeof itemSchema>;
const payloadSchema = z.object({ entry: z.string(), items: z.array(itemSchema), programWallSeconds: z.number() });
type ToyPayload = z.infer<typeof payloadSchema>;
const timingsSchema = z.object({ programMs: z.number(), totalMs: z.number() });
const toyResultSchema = resultSchema(payloadSchema, timingsSchema);

const HEADLINE = { name: 'quality', label: 'quality', unit: '', direction: 'higher' } as const;

const tables: EvaluatorTables<ToyItem> = {
  migrations: [
    {
      description: 'per-word answers',
      up: (sql) =>
        sql.exec(`CREATE TABLE toy_items (
          run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, item_index INTEGER NOT NULL,
          word TEXT NOT NULL, answer TEXT NOT NULL, correct INTEGER NOT NULL, PRIMARY KEY (run_id, item_index))`),
    },
  ],
  items: {
    table: 'toy_items',
    columns: ['word', 'answer', 'correct'],
    key: (item) => item.index,
    toRow: (item) => [item.word, item.answer, item.correct ? 1 : 0],
    fromRow: (row) => itemSchema.parse({ index: row.item_index, word: row.word, answer: row.answer, correct: row.correct === 1 }),
  },
};

const reverse = (word: string) => [...word].reverse().join('');
const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const toy: Evaluator<ToyConfig, ToyPayload> = {
  id: 'toy',
  version: '1',
  title: 'Toy word reversal',
  description: 'A sandboxed program reverses words; the share it gets right ranks',
  config: {
    schema: configSchema,
    jsonSchema: () => z.toJSONSchema(configSchema, { io: 'input' }) as Record<string, unknown>,
    async load(file, cwd = process.cwd()) {
      const config = await loadConfigFile(configSchema, file);
      const base = file ? path.dirname(file) : cwd;
      const plugins = config.plugins.map((entry) => {
        if (!looksLikePath(pluginSpec(entry))) return entry;
        return typeof entry === 'string' ? path.resolve(base, entry) : { ...entry, name: path.resolve(base, entry.name) };
      });
      return { ...config, plugins, outputDir: path.resolve(base, config.outputDir) };
    },
    plugins: (config) => ({ entries: config.plugins, scope: { evaluator: 'toy', hooks: ['prepareWords', 'describe'] } }),
    outputDir: (config) => config.outputDir,
    cacheDir: () => null,
  },
  headline: HEADLINE,
  async evaluate(entry, config, context) {
    const started = Date.now();
    if (!context.programs) throw new OptibenchError('the toy evaluator runs entries in the sandbox: run as root with bubblewrap installed');
    if (entry.path === null) throw new OptibenchError('the toy evaluator scores a program: give its path');
    let words = [...config.words];
    for (const plugin of context.plugins) words = (plugin.hooks as ToyHooks).prepareWords?.(words) ?? words;
    const wordsSha256 = createHash('sha256').update(words.join('\n')).digest('hex');
    const { outputDir: _outputDir, ...identity } = config;
    context.recording?.started({ configSha256: canonicalSha256(identity), datasetPath: 'toy:words', datasetSha256: wordsSha256, totalItems: words.length, shuffleSeed: null });

    const work = await mkdtemp(path.join(os.tmpdir(), 'optibench-toy-'));
    try {
      const input = path.join(work, 'words.txt');
      const output = path.join(work, 'answers.txt');
      await writeFile(input, `${words.join('\n')}\n`, { mode: 0o644 });
      context.say?.(`running ${entry.path} in the sandbox`);
      const outcome = await context.programs.run({
        command: ['/bin/sh', entry.path],
        workDir: work,
        inputs: [entry.path],
        hidden: [],
        env: { PATH: '/usr/bin:/bin', TOY_INPUT: input, TOY_OUTPUT: output, HOME: work },
        limits: { wallSeconds: config.timeoutSeconds, cpuSeconds: 60, memoryBytes: 2 ** 30, processes: 64, fileBytes: 2 ** 20, diskBytes: 2 ** 24, tmpBytes: 2 ** 24 },
      });
      if (outcome.violation) throw new OptibenchError(`the entry failed in the sandbox: ${outcome.violation.message}`);
      const answers = (await readCappedText(output, { followLinks: false, maxBytes: 2 ** 20, what: "entry's answers file" })).split('\n');
      const items = words.map((word, index) => ({ index, word, answer: answers[index] ?? '', correct: answers[index] === reverse(word) }));
      context.recording?.items(items);
      const correct = items.filter((i) => i.correct).length;
      const quality = correct / items.length;
      const result: Result<ToyPayload, z.infer<typeof timingsSchema>> = {
        schema: RESULT_SCHEMA_ID,
        version: RESULT_VERSION,
        evaluator: { id: 'toy', version: '1' },
        runId: context.runId,
        createdAt: new Date(started).toISOString(),
        status: 'complete',
        subject: { configSha256: canonicalSha256(identity), team: entry.team, commit: entry.commit },
        config: { ...config } as unknown as Result['config'],
        environment: { cpu: { brand: os.cpus()[0]?.model ?? 'unknown', manufacturer: 'unknown', cores: os.cpus().length, physicalCores: os.cpus().length, speedGHz: 0 }, memory: { totalBytes: os.totalmem() }, gpus: [], os: { platform: os.platform(), distro: 'unknown', release: os.release(), kernel: os.release(), arch: os.arch() }, hostname: os.hostname(), versions: { node: process.version } },
        plugins: context.plugins.map((p) => ({ name: p.definition.name, version: p.definition.version, source: p.source, options: (p.options ?? null) as never, facts: p.hooks.describe?.() ?? {} })),
        timings: { programMs: outcome.wallSeconds * 1000, totalMs: Date.now() - started },
        metrics: { quality: { value: quality, stderr: null }, correct: { value: correct, stderr: null } },
        headline: { ...HEADLINE, value: quality },
        verdict: null,
        payload: { entry: entry.path, items, programWallSeconds: outcome.wallSeconds },
      };
      return result;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
  judge(candidate, reference) {
    const [mine, theirs] = [candidate.headline.value ?? 0, reference.headline.value ?? 0];
    const passed = mine >= theirs;
    return { passed, reason: `${passed ? 'PASS' : 'FAIL'}: quality ${mine} against the baseline's ${theirs}`, referenceRunId: reference.runId };
  },
  verdictLabel: 'baseline',
  async readResult(file) {
    const { json } = await readResultJson(file);
    return parseResult(toyResultSchema, json, file);
  },
  renderReport: (result) =>
    `<!doctype html><meta charset="utf-8"><title>toy ${escape(result.runId)}</title><h1>Toy run ${escape(result.runId)}</h1>` +
    `<p>quality ${result.headline.value}</p><ul>${result.payload.items.map((i) => `<li>${escape(i.word)} → ${escape(i.answer)} ${i.correct ? '✓' : '✗'}</li>`).join('')}</ul>`,
  tables: tables as EvaluatorTables,
  board: {
    title: 'Toy word reversal',
    columns: [
      { key: 'correct', label: 'correct words', format: 'integer', value: (row) => row.metrics.correct?.value ?? null },
      { key: 'quality', label: 'quality', format: 'percent', value: (row) => row.metrics.quality ?? null },
    ],
  },
};

export default toy;
