/**
 * `optibench compare`: a baseline and a candidate on the same items, the paired test and the gate's
 * verdict, written as compare.json and a comparison page beside both runs' own results and reports.
 */
import { ensureWritableDir } from '../../core/output-dir.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RunConfig } from './config.js';
import { OptibenchError } from '../../core/errors.js';
import { readResultsFile } from './results-file.js';
import type { InferenceResult } from './results.js';
import { newRunId, type RunObserver } from './runner.js';
import { getTask } from '../../tasks/index.js';
import { agreementLine, agreementOf } from './agreement.js';
import { COMPARE_SCHEMA_ID, COMPARE_VERSION, compareFileSchema, type CompareFile } from './compare-schema.js';
import { relativeLink, writeJsonAtomic } from './files.js';
import { formatP, judge, type GateOptions } from './gate.js';
import { writeCompareReport } from './report/render.js';
import { randomShuffleSeed } from '../../core/item-order.js';
import { checkPlugins, checkSameSelection, runAndWrite } from './run-one.js';
import { interleave } from './interleave.js';
import { BOOTSTRAP, coefficientOfVariation, pairedSpeedup } from './paired-speedup.js';

export type Side = 'baseline' | 'candidate';

export interface CompareOutcome {
  readonly compare: CompareFile;
  readonly dir: string;
  readonly file: string;
  readonly report: string;
}

interface Common {
  readonly gate: GateOptions;
  /** Judging a submission: only the full set counts. */
  readonly submission: boolean;
  /** The command line, recorded in compare.json. */
  readonly command: readonly string[];
}

export interface CompareRunsInput extends Common {
  readonly candidate: RunConfig;
  readonly baseline: RunConfig;
  readonly observer?: (side: Side) => RunObserver;
  /** The two configs differ only in backend (`--backends`): also report the cross-backend agreement. */
  readonly agreement?: boolean;
}

export interface CompareFilesInput extends Common {
  readonly baselineFile: string;
  readonly candidateFile: string;
  readonly outputDir: string;
}

/** The default baseline: the candidate's configuration with no plugins. */
export function baselineOf(candidate: RunConfig): RunConfig {
  return { ...candidate, plugins: [] };
}

function refuseSubsetConfig(config: RunConfig): void {
  if (config.samples !== undefined) {
    throw new OptibenchError(`--submission judges the full set: remove the item indices (--samples or the config's "samples")`, { key: 'samples' });
  }
  if (config.limit !== null) {
    throw new OptibenchError(`--submission judges the full set: remove the limit of ${config.limit} items (--limit or the config's "limit")`, { key: 'limit' });
  }
}

function refuseSubsetResults(results: InferenceResult, file: string): void {
  const ds = results.payload.task.dataset;
  if (ds.selectedDocs < ds.totalDocs) {
    throw new OptibenchError(`--submission judges the full set, and this run scored ${ds.selectedDocs} of ${ds.totalDocs} items`, { file });
  }
}

export async function compareRuns(input: CompareRunsInput): Promise<CompareOutcome> {
  const candidate = { label: 'candidate', config: input.candidate };
  const baseline = { label: 'baseline', config: input.baseline };
  checkSameSelection(baseline, candidate);
  if (input.submission) refuseSubsetConfig(input.candidate);
  const metrics = getTask(input.candidate.task).metrics;
  if (!metrics.includes(input.gate.metric)) {
    throw new OptibenchError(`"${input.gate.metric}" is not one of ${input.candidate.task}'s metrics (${metrics.join(', ')})`, { key: 'metric' });
  }
  await checkPlugins([baseline, candidate]);

  const id = newRunId('compare');
  const dir = path.join(input.candidate.outputDir, id);
  // One item order for both runs: the runs differ by their plugins only, not by how their batches were drawn.
  const order = { shuffleSeed: randomShuffleSeed() };
  // Both loaded, then their passes alternate (baseline, candidate, baseline, ...): a slow phase of the machine
  // slows both sides of a round, and the speedup is paired by round.
  const sides = [
    { label: 'baseline' as const, config: input.baseline },
    { label: 'candidate' as const, config: input.candidate },
  ];
  const {
    values: [base, cand],
    passes,
  } = await interleave(
    sides.map((s) => ({ label: s.label, start: (pacer) => runAndWrite(s.config, path.join(dir, s.label), s.label, input.observer?.(s.label), { ...order, pacer }) })),
    Math.max(input.baseline.repeats, input.candidate.repeats),
  );
  const baseMs = base!.results.timings.inference.repeats;
  const candMs = cand!.results.timings.inference.repeats;
  const paired = pairedSpeedup(baseMs, candMs);
  return finish({
    ...input,
    id,
    dir,
    mode: 'runs',
    baseline: { results: base!.results, resultsFile: base!.resultsFile, report: base!.reportFile },
    candidate: { results: cand!.results, resultsFile: cand!.resultsFile, report: cand!.reportFile },
    speedup: paired?.speedup ?? null,
    timing: {
      passes: passes.map((p) => ({ round: p.round, side: p.label as Side, ms: p.ms })),
      pairedRatios: paired?.ratios ?? [],
      speedupInterval: paired?.interval ?? null,
      bootstrap: { ...BOOTSTRAP },
      cv: { baseline: coefficientOfVariation(baseMs), candidate: coefficientOfVariation(candMs) },
    },
  });
}

export async function compareResultsFiles(input: CompareFilesInput): Promise<CompareOutcome> {
  await ensureWritableDir(input.outputDir, '--output');
  const baseline = await readResultsFile(input.baselineFile);
  const candidate = await readResultsFile(input.candidateFile);
  if (input.submission) {
    refuseSubsetResults(baseline, input.baselineFile);
    refuseSubsetResults(candidate, input.candidateFile);
  }
  const id = newRunId('compare');
  const reportBeside = (file: string) => {
    const html = path.join(path.dirname(file), 'index.html');
    return existsSync(html) ? html : null;
  };
  return finish({
    ...input,
    id,
    dir: path.join(input.outputDir, id),
    mode: 'results',
    baseline: { results: baseline, resultsFile: path.resolve(input.baselineFile), report: reportBeside(path.resolve(input.baselineFile)) },
    candidate: { results: candidate, resultsFile: path.resolve(input.candidateFile), report: reportBeside(path.resolve(input.candidateFile)) },
    // Timed in different invocations, perhaps on different machines: no speedup is claimed.
    speedup: null,
  });
}

interface Judged extends Common {
  readonly id: string;
  readonly dir: string;
  readonly mode: CompareFile['mode'];
  readonly baseline: { results: InferenceResult; resultsFile: string; report: string | null };
  readonly candidate: { results: InferenceResult; resultsFile: string; report: string | null };
  readonly speedup: number | null;
  readonly timing?: CompareFile['timing'];
  readonly agreement?: boolean;
}

async function finish(j: Judged): Promise<CompareOutcome> {
  const gate = judge(j.baseline.results, j.candidate.results, j.gate);
  const side = (s: Judged['baseline']): CompareFile['baseline'] => ({
    runId: s.results.runId,
    resultsFile: relativeLink(j.dir, s.resultsFile),
    report: s.report === null ? null : relativeLink(j.dir, s.report),
    backend: backendLabel(s.results),
    plugins: s.results.plugins.map((p) => p.name),
    inferenceMedianMs: s.results.timings.inference.medianMs,
    tokensPerSecond: s.results.payload.throughput.tokensPerSecond,
  });
  const compare = compareFileSchema.parse({
    schema: COMPARE_SCHEMA_ID,
    version: COMPARE_VERSION,
    id: j.id,
    createdAt: new Date().toISOString(),
    mode: j.mode,
    command: [...j.command],
    submission: j.submission,
    items: gate.items,
    baseline: side(j.baseline),
    candidate: side(j.candidate),
    speedup: j.speedup,
    ...(j.timing ? { timing: j.timing } : {}),
    gate: gate.gate,
    metrics: [...gate.metrics],
    verdict: gate.verdict,
    warnings: [...gate.warnings],
    ...(j.agreement ? { agreement: agreementOf(j.baseline.results, j.candidate.results) } : {}),
  } satisfies CompareFile);
  const file = await writeJsonAtomic(path.join(j.dir, 'compare.json'), compare);
  const report = await writeCompareReport(compare, j.dir);
  return { compare, dir: j.dir, file, report };
}

/** `onnx (cpu, fp32)`: which backend ran a side, so a cross-backend comparison says which is which. */
function backendLabel(r: InferenceResult): string {
  const b = r.payload.backend;
  return `${b.name} (${String(b.session.executionProvider)}, ${String(b.build.dtype)})`;
}

/** The terminal summary: both sides, every metric's paired figures, the verdict. */
export function compareSummary(c: CompareFile, files: { file: string; report: string }): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const plugins = (p: readonly string[]) => (p.length ? p.join(', ') : 'no plugins');
  const what = (s: CompareFile['baseline']) => (s.backend === undefined ? plugins(s.plugins) : `${s.backend} · ${plugins(s.plugins)}`);
  const time = (ms: number | null) => (ms === null ? 'not timed' : `${ms.toFixed(1)} ms`);
  const lines = [`optibench compare ${c.id}: ${c.items.count} of ${c.items.totalDocs} items`];
  lines.push(`  baseline   ${what(c.baseline)} · inference ${time(c.baseline.inferenceMedianMs)} (median)`);
  const interval = c.timing?.speedupInterval ? ` (95 % interval ${c.timing.speedupInterval.low.toFixed(2)}-${c.timing.speedupInterval.high.toFixed(2)}x, paired over ${c.timing.pairedRatios.length} interleaved rounds)` : '';
  lines.push(`  candidate  ${what(c.candidate)} · inference ${time(c.candidate.inferenceMedianMs)} (median)${c.speedup === null ? '' : ` · ${c.speedup.toFixed(2)}x${interval}`}`);
  const cv = (x: number | null) => (x === null ? '—' : `${(100 * x).toFixed(1)} %`);
  if (c.timing) lines.push(`  CV of pass times: baseline ${cv(c.timing.cv.baseline)}, candidate ${cv(c.timing.cv.candidate)}`);
  for (const m of c.metrics) {
    const se = m.pairedStderrPoints === null ? '' : ` ± ${m.pairedStderrPoints.toFixed(2)}`;
    lines.push(
      `  ${m.name.padEnd(10)} ${pct(m.baseline)} -> ${pct(m.candidate)}  ${m.differencePoints >= 0 ? '+' : ''}${m.differencePoints.toFixed(2)}${se} points (paired)  ` +
        `McNemar p = ${formatP(m.mcnemarP)} (${m.table.baselineOnly} lost, ${m.table.candidateOnly} gained)`,
    );
  }
  if (c.agreement) lines.push(`  ${agreementLine(c.agreement)}`);
  lines.push(`  ${c.verdict.reason}`);
  if (c.verdict.subsetNote) lines.push(`  note: ${c.verdict.subsetNote}`);
  for (const w of c.warnings) lines.push(`  warning: ${w}`);
  lines.push(`  compare    ${files.file}`);
  lines.push(`  report     ${files.report}`);
  return `${lines.join('\n')}\n`;
}
