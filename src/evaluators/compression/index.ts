/**
 * The matrix-compression competition (issue 11; PROTOCOL.md): a solution compresses and decompresses bfloat16
 * activations, each call in its own sandbox; the evaluator times the calls from outside, checks the round trip
 * and scores it (scoring.ts), records one row per sample (`compression_samples`), judges against
 * `score_to_beat` (judge.ts), and shows it on its board and report page.
 */
import { z } from 'zod';
import { canonicalSha256 } from '../../core/canonical-json.js';
import { captureEnvironment } from '../../core/environment.js';
import { EvaluationFailure, type Evaluator } from '../../core/evaluator.js';
import { OptibenchError } from '../../core/errors.js';
import { parseResult, readResultJson } from '../../core/result-file.js';
import { RESULT_SCHEMA_ID, RESULT_VERSION, type Result } from '../../core/result.js';
import type { EvaluatorTables } from '../../core/store.js';
import { compressionBoard } from './board.js';
import { registerCompressionCommands } from './commands/group.js';
import { compressionConfigSchema, compressionJsonSchema, loadCompressionConfig, profileOf, type CompressionConfig } from './config.js';
import { scoreSamples } from './evaluate.js';
import { currentTop, judgeChallenge, type ChallengeRules } from './judge.js';
import { renderCompressionReport } from './report.js';
import { compressionResultSchema, compressionTables, type CompressionPayload, type CompressionResult, type CompressionTimings, type SampleItem } from './results.js';
import { loadSampleSet } from './sample-set.js';
import { roundScore } from './scoring.js';
import { readSolution } from './solution.js';
import type { Overhead } from './protocols/overhead.js';

export const COMPRESSION_EVALUATOR_VERSION = '1';
export const HEADLINE = { name: 'raw_score', label: 'raw score', unit: '', direction: 'higher' } as const;

/** The metrics of a round (all samples; a failed one counts 0 in the score and is left out of the means of what it did not produce). */
export function roundMetrics(items: readonly SampleItem[], config: CompressionConfig): Result['metrics'] {
  const profile = profileOf(config);
  const round = roundScore(items.map((i) => i.raw), profile);
  const ok = items.filter((i) => i.failure === null);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const m = (value: number) => ({ value, stderr: null });
  return {
    raw_score: m(round.raw),
    normalized_score: m(round.normalized),
    ratio: m(mean(ok.map((i) => i.ratio!))),
    task_seconds: m(mean(ok.map((i) => i.compressSeconds! + i.decompressSeconds!))),
    similarity: m(mean(ok.map((i) => i.similarity!))),
    bit_exact: m(items.filter((i) => i.bitExact).length),
    failed: m(items.length - ok.length),
    samples: m(items.length),
  };
}

/** The null round trip (compress and decompress) over the mean task time of the samples that round-tripped. */
function shareOf(overhead: Overhead | null, items: readonly SampleItem[]): number | null {
  const ok = items.filter((i) => i.failure === null);
  if (overhead === null || ok.length === 0) return null;
  const meanTask = ok.reduce((s, i) => s + i.compressSeconds! + i.decompressSeconds!, 0) / ok.length;
  return meanTask > 0 ? overhead.roundTripSeconds / meanTask : null;
}

export const compressionEvaluator: Evaluator<CompressionConfig, CompressionPayload, ChallengeRules> = {
  id: 'compression',
  version: COMPRESSION_EVALUATOR_VERSION,
  title: 'Matrix compression',
  description: 'Sandboxed solutions compress and decompress bfloat16 activations; ratio, similarity and time score',
  config: {
    schema: compressionConfigSchema,
    jsonSchema: compressionJsonSchema,
    load: loadCompressionConfig,
    // Compression takes no plugins: a solution is a program of its own.
    plugins: () => ({ entries: [], scope: { evaluator: 'compression', hooks: ['describe'] } }),
    outputDir: (config) => config.outputDir,
    cacheDir: () => null,
  },
  headline: HEADLINE,
  async evaluate(entry, config, context) {
    const started = Date.now();
    if (!context.programs) throw new OptibenchError('the compression evaluator runs solutions in the sandbox only: run as root with bubblewrap installed (/usr/bin/bwrap)');
    if (entry.path === null) throw new OptibenchError('the compression evaluator scores a solution folder: give its path');
    const solution = await readSolution(entry.path);
    const set = await loadSampleSet(config.samples);
    const { outputDir: _outputDir, samples: _samples, ...rest } = config;
    const configSha256 = canonicalSha256({ ...rest, samples: set.manifestSha256 });
    context.recording?.started({ configSha256, datasetPath: set.folder, datasetSha256: set.manifestSha256, totalItems: set.samples.length, shuffleSeed: null });
    const items: SampleItem[] = [];
    let overhead: Overhead | null = null;
    const environment = captureEnvironment({}, { timeoutMs: 3000 });
    const build = async (status: 'complete' | 'incomplete', error?: string): Promise<CompressionResult> => {
      const profile = profileOf(config);
      const round = roundScore(items.map((i) => i.raw), profile);
      const sum = (f: (i: SampleItem) => number | null) => items.reduce((s, i) => s + (f(i) ?? 0), 0) * 1000;
      const timings: CompressionTimings = { totalMs: Date.now() - started, compressMs: sum((i) => i.compressSeconds), decompressMs: sum((i) => i.decompressSeconds) };
      return {
        schema: RESULT_SCHEMA_ID,
        version: RESULT_VERSION,
        evaluator: { id: 'compression', version: COMPRESSION_EVALUATOR_VERSION },
        runId: context.runId,
        createdAt: new Date(started).toISOString(),
        status,
        ...(error === undefined ? {} : { error }),
        subject: { configSha256, team: entry.team, commit: entry.commit },
        config: JSON.parse(JSON.stringify(config)) as Result['config'],
        environment: await environment,
        plugins: [],
        timings,
        metrics: roundMetrics(items, config),
        headline: { ...HEADLINE, value: status === 'complete' ? round.raw : null },
        verdict: null,
        payload: {
          solution: { root: solution.root, name: solution.manifest.name, protocol: solution.manifest.protocol, command: [...solution.manifest.command] },
          profile,
          samples: { folder: set.folder, manifestSha256: set.manifestSha256, count: set.samples.length },
          items: [...items],
          round,
          challengeMargin: config.challengeMargin,
          limits: { wallSeconds: config.limits.wallSeconds, memoryBytes: config.limits.memoryBytes, cpus: config.limits.cpus, processes: config.limits.processes, runner: context.programs!.name },
          evaluatorShare: { roundTripSeconds: overhead?.roundTripSeconds ?? null, method: overhead?.method ?? null, shareOfTaskTime: shareOf(overhead, items) },
        },
      };
    };
    try {
      await scoreSamples(
        solution,
        set.samples,
        config,
        context.programs,
        context,
        (item) => {
          items.push(item);
          context.recording?.items([item]);
        },
        (measured) => (overhead = measured),
      );
    } catch (error) {
      if (items.length === 0) throw error;
      throw new EvaluationFailure(await build('incomplete', (error as Error).message), error);
    }
    return build('complete');
  },
  judge: (candidate, reference, rules) => judgeChallenge(candidate as CompressionResult, reference as CompressionResult, rules),
  judgeRules: (store, candidate, teamRowId) => ({ top: currentTop(store, compressionEvaluator, teamRowId, candidate.payload.profile.name) }),
  verdictLabel: 'score to beat',
  resultJsonSchema: () => z.toJSONSchema(compressionResultSchema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>,
  async readResult(file) {
    const { json, evaluator } = await readResultJson(file);
    if (evaluator !== 'compression') throw new OptibenchError(`not a compression results file (its evaluator is ${evaluator ?? 'none'})`, { file });
    return parseResult(compressionResultSchema, json, file) as Result<CompressionPayload>;
  },
  renderReport: (result) => renderCompressionReport(result as CompressionResult),
  tables: compressionTables as EvaluatorTables,
  board: compressionBoard,
  registerCommands(program) {
    registerCompressionCommands(program, compressionEvaluator);
  },
};

