/**
 * `optibench bench`: the plugin ablation in one invocation. The baseline (no plugins), each plugin alone and
 * all together run on the same items with the same repeats; every speedup is against the baseline measured
 * here, never against a figure from another invocation or machine.
 */
import path from 'node:path';
import type { BackendName } from '../../core/backend.js';
import type { PluginEntry, RunConfig } from './config.js';
import { captureEnvironment } from '../../core/environment.js';
import { OptibenchError } from '../../core/errors.js';
import { randomShuffleSeed } from '../../core/item-order.js';
import type { RunObserver } from './runner.js';
import { newRunId } from './runner.js';
import { BENCH_SCHEMA_ID, BENCH_VERSION, benchFileSchema, type BenchConfiguration, type BenchFile } from './bench-schema.js';
import { relativeLink, writeJsonAtomic } from './files.js';
import { layerWeightParameters, runFlops, shapeFromConfig } from './flops.js';
import { judge, subsetNote, type GateOptions } from './gate.js';
import { DEFAULT_MICRO, microFromResults, microObserver, type MicroOptions } from './micro.js';
import { DEFAULT_NOISE, judgeNoise, ownThreads, type NoiseThresholds } from './contention.js';
import { interleave, type PassRecord } from './interleave.js';
import { BOOTSTRAP, coefficientOfVariation, pairedSpeedup } from './paired-speedup.js';
import { PeakSampler } from './peak-samples.js';
import { writeBenchReport } from './report/render.js';
import { checkPlugins, folderName, pluginLabel, runAndWrite, type WrittenRun } from './run-one.js';

export const FLOPS_FORMULA =
  'FLOPs per pass = 2 x L x (q + k + v + o + gate + up + down weights of one layer) x tokensThroughModel + 2 x hidden x vocab x headPositions ' +
  '(headPositions: every computed position, or the scored positions with head-pruning); padding, attention scores, norms and softmax excluded';

export interface Ablation {
  readonly label: string;
  readonly plugins: readonly PluginEntry[];
}

/**
 * Baseline, each plugin alone, then all together (when there are two or more). `combinedOnly`: the baseline
 * and the plugins together, nothing alone (the full-set run, where each configuration costs a whole pass).
 */
export function ablation(plugins: readonly PluginEntry[], combinedOnly = false): Ablation[] {
  const out: Ablation[] = [{ label: 'baseline', plugins: [] }];
  if (combinedOnly) {
    if (plugins.length === 1) out.push({ label: pluginLabel(plugins[0]!), plugins: [...plugins] });
    if (plugins.length > 1) out.push({ label: 'all', plugins: [...plugins] });
    return out;
  }
  for (const p of plugins) out.push({ label: pluginLabel(p), plugins: [p] });
  if (plugins.length > 1) out.push({ label: 'all', plugins: [...plugins] });
  return out;
}

/** `--plugins a,b`: names pick the config's entry (with its options) when it lists that plugin. */
export function selectPlugins(config: RunConfig, names: readonly string[] | undefined): PluginEntry[] {
  if (names === undefined) return [...config.plugins];
  return names.map((name) => config.plugins.find((entry) => (typeof entry === 'string' ? entry : entry.name) === name) ?? name);
}

export interface BenchInput {
  readonly config: RunConfig;
  /**
   * Another backend that scores the same items the lm-eval way (no plugins: every pair its own sequence), as
   * the reference the throughput is compared with: `pytorch` is PyTorch eager.
   */
  readonly reference?: BackendName;
  readonly plugins: readonly PluginEntry[];
  readonly gate: GateOptions;
  /** Micro-benchmarks after the passes; null: none (the full-set run). */
  readonly micro: MicroOptions | null;
  /**
   * Turns per pass (see `RunOptions.segments`): with more than one, the configurations take turns segment by
   * segment and every paired ratio is of one segment. Default 1.
   */
  readonly segments?: number;
  /** Only the baseline and the plugins together (plus the reference): no plugin alone. */
  readonly combinedOnly?: boolean;
  /** When the run counts as noisy (defaults: DEFAULT_NOISE). */
  readonly noise?: NoiseThresholds;
  readonly command: readonly string[];
  /** Progress for the user: a line per step, and an observer per configuration. */
  readonly onMessage?: (message: string) => void;
  readonly observer?: (label: string, position: number, count: number) => RunObserver;
}

export interface BenchOutcome {
  readonly bench: BenchFile;
  readonly dir: string;
  readonly file: string;
  readonly report: string;
}

export async function runBench(input: BenchInput): Promise<BenchOutcome> {
  const { config } = input;
  const configs: { label: string; plugins: readonly PluginEntry[]; config: RunConfig; reference?: boolean }[] = ablation(input.plugins, input.combinedOnly).map((a) => ({
    ...a,
    config: { ...config, plugins: [...a.plugins] },
  }));
  if (input.reference !== undefined) {
    if (input.reference === config.backend.name) throw new OptibenchError(`the reference backend must differ from the benchmarked one (${config.backend.name})`, { key: 'reference' });
    configs.push({ label: referenceLabel(input.reference), plugins: [], reference: true, config: { ...config, plugins: [], backend: { ...config.backend, name: input.reference } } });
  }
  const labels = configs.map((c) => c.label);
  const duplicate = labels.find((l, i) => labels.indexOf(l) !== i);
  if (duplicate !== undefined) throw new OptibenchError(`plugin "${duplicate}" is listed twice`, { key: 'plugins' });
  await checkPlugins(configs);

  const id = newRunId('bench');
  const dir = path.join(config.outputDir, id);
  const sampler = await PeakSampler.start(config.backend, input.micro ?? DEFAULT_MICRO);
  const segments = Math.max(1, Math.floor(input.segments ?? 1));
  const rounds = config.repeats * segments;
  // One item order for every configuration: they differ by their plugins only, not by how their batches were drawn.
  const order = { shuffleSeed: randomShuffleSeed() };
  const folders = configs.map((c, position) => `${position}-${folderName(c.label)}`);
  const soFar: PassRecord[] = [];
  /** For a long segmented run: each configuration's time so far, and its ratio to the baseline's. */
  const turnSoFar = (roundsDone: number): string => {
    if (segments === 1) return '';
    const totals = configs.map((_, position) => soFar.filter((p) => p.configuration === position && p.round < roundsDone).reduce((a, p) => a + p.ms, 0));
    return `; so far ${configs.map((c, position) => `${c.label} ${(totals[position]! / 1000).toFixed(1)} s${position > 0 && totals[position]! > 0 ? ` (${(totals[0]! / totals[position]!).toFixed(2)}x)` : ''}`).join(', ')}`;
  };
  const { values: written, passes } = await interleave(
    configs.map((c, position) => ({
      label: c.label,
      start: (pacer) => {
        const base = input.observer?.(c.label, position, configs.length);
        const observer = input.micro ? { ...base, afterInference: microObserver(input.micro) } : { ...base };
        return runAndWrite(c.config, path.join(dir, folders[position]!), c.label, observer, { ...order, pacer, segments });
      },
    })),
    rounds,
    {
      onStart: (position) => {
        const c = configs[position]!;
        input.onMessage?.(`[${position + 1}/${configs.length}] loading ${c.label}${c.plugins.length ? ` (${c.plugins.map(pluginLabel).join(', ')})` : ' (no plugins)'}`);
      },
      onPass: (pass) => void soFar.push(pass),
      atBoundary: async (roundsDone) => {
        const what = segments > 1 ? `turn${rounds === 1 ? '' : 's'} (${config.repeats} pass${config.repeats === 1 ? '' : 'es'} in ${segments} segments)` : `round${rounds === 1 ? '' : 's'}`;
        input.onMessage?.(roundsDone === 0 ? `all ${configs.length} configurations loaded; ${rounds} ${what} of interleaved passes` : `${segments > 1 ? 'turn' : 'round'} ${roundsDone} of ${rounds} done${turnSoFar(roundsDone)}`);
        // At most ~16 samples between the first and the last: many small segments must not turn into hours of peak sampling.
        if (roundsDone !== 0 && roundsDone !== rounds && roundsDone % Math.ceil(rounds / MAX_PEAK_SAMPLES_BETWEEN) !== 0) return;
        const s = await sampler.sample(roundsDone, rounds);
        input.onMessage?.(`MatMul peak: ${s.gflopsPerSecond.toFixed(1)} GFLOP/s${s.loadAverage ? `, load average ${s.loadAverage[0].toFixed(2)}` : ''}${s.stealShare === null ? '' : `, steal ${(100 * s.stealShare).toFixed(1)} %`}`);
      },
    },
  );
  const runs = configs.map((c, position) => ({ label: c.label, folder: folders[position]!, reference: c.reference === true, run: written[position]! }));

  const bench = assemble(input, id, dir, sampler, passes, segments, runs, await captureEnvironment());
  const file = await writeJsonAtomic(path.join(dir, 'bench.json'), bench);
  const report = await writeBenchReport(bench, dir);
  return { bench, dir, file, report };
}

/** Peak samples taken between rounds at the most (plus the one before the first and the one after the last). */
const MAX_PEAK_SAMPLES_BETWEEN = 16;

export function referenceLabel(backend: BackendName): string {
  return backend === 'pytorch' ? 'pytorch eager (lm-eval way)' : `${backend} (lm-eval way)`;
}

function assemble(
  input: BenchInput,
  id: string,
  dir: string,
  sampler: PeakSampler,
  passes: readonly PassRecord[],
  segments: number,
  runs: { label: string; folder: string; run: WrittenRun; reference: boolean }[],
  environment: BenchFile['environment'],
): BenchFile {
  const base = runs[0]!.run.results;
  // Per turn, in turn order: a pass's time, or with segments one segment's (the same items in every configuration).
  const turnMs = (position: number) =>
    passes
      .filter((p) => p.configuration === position)
      .sort((a, b) => a.round - b.round)
      .map((p) => p.ms);
  const total = (ms: readonly number[]) => ms.reduce((a, b) => a + b, 0);
  const baseMs = turnMs(0);
  const referencePosition = runs.findIndex((r) => r.reference);
  const peak = sampler.best();
  const shape = shapeFromConfig(base.payload.model.config);
  const ds = base.payload.task.dataset;
  const configurations = runs.map(({ label, run, reference }, position): BenchConfiguration => {
    const r = run.results;
    const inf = r.timings.inference;
    const gate = position === 0 ? null : judge(base, r, input.gate);
    const judged = gate?.metrics.find((m) => m.name === input.gate.metric);
    const flops = runFlops(r);
    const ms = turnMs(position);
    const paired = pairedSpeedup(baseMs, ms)!;
    return {
      label,
      plugins: r.plugins.map((p) => p.name),
      runId: r.runId,
      resultsFile: relativeLink(dir, run.resultsFile),
      report: relativeLink(dir, run.reportFile),
      inference: { medianMs: inf.medianMs!, minMs: inf.minMs!, maxMs: inf.maxMs!, repeats: inf.repeats },
      tokensThroughModel: r.payload.throughput.tokensThroughModel,
      paddedTokens: r.payload.throughput.paddedTokens,
      pairwiseTokens: r.payload.throughput.pairwiseTokens,
      tokensPerSecond: r.payload.throughput.tokensPerSecond,
      pairwiseTokensPerSecond: r.payload.throughput.pairwiseTokensPerSecond,
      itemsPerSecond: r.payload.throughput.itemsPerSecond,
      speedup: paired.speedup,
      pairedRatios: paired.ratios,
      speedupInterval: paired.interval,
      cv: segments === 1 ? coefficientOfVariation(inf.repeats) : position === 0 ? null : coefficientOfVariation(paired.ratios),
      wholeSpeedup: total(baseMs) / total(ms),
      headlineMetric: r.payload.primaryMetric,
      metrics: r.metrics,
      gate:
        gate && judged
          ? { pass: gate.verdict.pass, differencePoints: judged.differencePoints, pairedStderrPoints: judged.pairedStderrPoints, mcnemarP: judged.mcnemarP, reason: gate.verdict.reason }
          : null,
      flops: { ...flops, gflopsPerSecond: flops.gflopsPerSecond!, fractionOfPeak: flops.gflopsPerSecond! / peak.gflopsPerSecond },
      micro: microFromResults(r.payload.micro),
      harnessOverhead: r.timings.harnessOverhead ?? null,
      backend: r.payload.backend.name,
      ...(reference ? { reference: true } : {}),
      // Both score the same pairwise tokens, so the throughput ratio is reference time over this one's, paired by round.
      vsReference: referencePosition >= 0 ? pairedSpeedup(turnMs(referencePosition), ms)!.speedup : null,
    };
  });
  const c = input.config;
  const noise = judgeNoise({
    peaks: sampler.samples.map((s) => s.gflopsPerSecond),
    // Only float32 work can be held against the fp32 MatMul peak: integer (or fp16) matmuls counted as fp32
    // FLOPs exceed it on a quiet machine, which says nothing about contention.
    ofPeak: configurations.filter((_, position) => fp32FloatWork(runs[position]!.run.results)).map((x) => ({ label: x.label, fraction: x.flops.fractionOfPeak })),
    cv: configurations.map((x) => ({ label: x.label, cv: x.cv })),
    ...(segments > 1 ? { cvOf: 'per-segment ratios to the baseline' } : {}),
    load: { averages: sampler.samples.map((x) => x.loadAverage?.[0] ?? null), ownThreads: ownThreads(c.backend.intraOpThreads) },
    thresholds: input.noise ?? DEFAULT_NOISE,
  });
  return benchFileSchema.parse({
    schema: BENCH_SCHEMA_ID,
    version: BENCH_VERSION,
    id,
    createdAt: new Date().toISOString(),
    command: [...input.command],
    environment,
    task: base.payload.task.name,
    items: {
      count: base.payload.items.length,
      totalDocs: ds.totalDocs,
      datasetPath: ds.path,
      datasetSha256: ds.sha256,
      limit: ds.limit,
      seed: ds.seed,
      ...(ds.selection ? { selection: ds.selection } : {}),
      subsetNote: subsetNote(base.payload.items.length, ds.totalDocs),
    },
    model: { dir: base.payload.model.dir, weightsSha256: base.payload.model.weightsSha256, layerWeightParameters: layerWeightParameters(shape), vocabSize: shape.vocabSize, hiddenSize: shape.hiddenSize },
    backend: { name: c.backend.name, executionProvider: c.backend.executionProvider, dtype: c.backend.dtype, intraOpThreads: c.backend.intraOpThreads, interOpThreads: c.backend.interOpThreads },
    repeats: c.repeats,
    ...(segments > 1 ? { segments } : {}),
    batchSize: c.batchSize,
    peak,
    peakSamples: sampler.samples,
    passes: passes.map((p) => ({ round: p.round, configuration: p.label, ms: p.ms })),
    bootstrap: { ...BOOTSTRAP },
    noise,
    formula: FLOPS_FORMULA,
    gate: input.gate,
    configurations,
  } satisfies BenchFile);
}

/** Whether a run's matmuls were float32 ones (no quantized weights, an fp32 build): the peak's own kind of work. */
export function fp32FloatWork(r: WrittenRun['results']): boolean {
  const { build, load } = r.payload.backend;
  return (build.dtype ?? 'fp32') === 'fp32' && !('quantized' in load);
}

/** The verdict on the machine's quietness, first word `noisy` or `quiet`, then what was seen. */
export function noiseLines(b: BenchFile): string[] {
  const t = b.noise.thresholds;
  const load = t.maxLoadExcess === undefined ? '' : `, load average at most the threads + ${t.maxLoadExcess}`;
  const rules = `peak within ${(100 * t.peakTolerance).toFixed(0)} %, CV at most ${(100 * t.maxCv).toFixed(0)} %, of peak at most 100 %${load}`;
  if (!b.noise.noisy) return [`quiet: no sign of contention (${rules})`];
  const machine = b.noise.reasons.some((r) => r.rule === 'peak-moved' || r.rule === 'load');
  return [
    `NOISY: the machine was busy; these ratios may not hold (${rules}):`,
    ...b.noise.reasons.map((r) => `  ${r.rule}: ${r.message}`),
    // The machine-level rules: worth checking the machine alone before the next attempt.
    ...(machine ? ['  before the next run: `optibench machine-check` samples the peak and load alone and says whether a bench here would be flagged'] : []),
  ];
}

/** A long duration as h:mm:ss (seconds with one decimal below a minute). */
export function formatWall(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const sec = whole % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

/** The table `optibench bench` prints: one row per configuration, aligned columns. */
export function benchTable(b: BenchFile): string {
  const header = ['configuration', 'median', 'tokens', 'padded', 'tok/s', 'lm-eval tok/s', 'speedup', '95 % interval', 'CV', b.configurations[0]!.headlineMetric, 'gate', 'GFLOP/s', 'of peak', 'overhead', 'vs ref', 'batch p50', 'p99', 'n'];
  const rows = b.configurations.map((c) => {
    const m = c.metrics[c.headlineMetric];
    const micro = c.micro.find((x) => x.batch === 'median');
    const gate = c.gate ? `${c.gate.pass ? 'PASS' : 'FAIL'} ${c.gate.differencePoints >= 0 ? '+' : ''}${c.gate.differencePoints.toFixed(2)}` : '—';
    return [
      c.label,
      `${c.inference.medianMs.toFixed(1)} ms`,
      String(c.tokensThroughModel),
      String(c.paddedTokens),
      c.tokensPerSecond.toFixed(0),
      c.pairwiseTokensPerSecond.toFixed(0),
      `${c.speedup.toFixed(2)}x`,
      c.speedupInterval ? `${c.speedupInterval.low.toFixed(2)}-${c.speedupInterval.high.toFixed(2)}x` : '—',
      c.cv === null ? '—' : `${(100 * c.cv).toFixed(1)} %`,
      m ? `${(100 * m.value).toFixed(2)} %` : '—',
      gate,
      c.flops.gflopsPerSecond.toFixed(2),
      `${(100 * c.flops.fractionOfPeak).toFixed(1)} %`,
      c.harnessOverhead === null || c.harnessOverhead === undefined ? '—' : `${(100 * c.harnessOverhead).toFixed(2)} %`,
      c.vsReference === null || c.vsReference === undefined ? '—' : `${c.vsReference.toFixed(2)}x`,
      micro ? `${micro.latency.p50Ms.toFixed(2)} ms` : '—',
      micro ? `${micro.latency.p99Ms.toFixed(2)} ms` : '—',
      micro ? String(micro.latency.samples) : '—',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function benchSummary(b: BenchFile, files: { file: string; report: string }): string {
  const p = b.peak;
  const lines = [
    `optibench bench ${b.id}: ${b.task}, ${b.items.count} of ${b.items.totalDocs} items, ${b.backend.name} (${b.backend.executionProvider}, ${b.backend.dtype}), median of ${b.repeats} repeat${b.repeats === 1 ? '' : 's'}`,
    '',
    benchTable(b),
    '',
    `MatMul peak: ${p.gflopsPerSecond.toFixed(2)} GFLOP/s ([${p.shape.m},${p.shape.k}]x[${p.shape.k},${p.shape.n}] fp32, fastest of ${p.latency.samples} samples ${p.latency.minMs.toFixed(2)} ms, p50 ${p.latency.p50Ms.toFixed(2)} ms, ${p.intraOpThreads || 'default'} threads)`,
    `  the highest of ${b.peakSamples.length} samples: ${b.peakSamples.map((s) => s.gflopsPerSecond.toFixed(1)).join(', ')} GFLOP/s; load average ${b.peakSamples.map((s) => (s.loadAverage ? s.loadAverage[0].toFixed(2) : '?')).join(', ')}; steal ${b.peakSamples.map((s) => (s.stealShare === null ? '?' : `${(100 * s.stealShare).toFixed(1)} %`)).join(', ')}`,
    b.segments && b.segments > 1
      ? `speedup: each pass ran in ${b.segments} segments (the same slices of the items in every configuration, interleaved segment by segment); median over the ${b.repeats * b.segments} turns of the baseline's segment time over the configuration's; CV: of those ratios; interval: ${b.bootstrap.method}, ${b.bootstrap.resamples} resamples, seed ${b.bootstrap.seed}`
      : `speedup: median over ${b.repeats} interleaved round${b.repeats === 1 ? '' : 's'} of the baseline's pass time over the configuration's in the same round; interval: ${b.bootstrap.method}, ${b.bootstrap.resamples} resamples, seed ${b.bootstrap.seed}`,
    ...(b.segments && b.segments > 1
      ? [`whole passes (sum of every turn): ${b.configurations.map((c) => `${c.label} ${formatWall(c.inference.repeats.reduce((a, x) => a + x, 0))}${c.wholeSpeedup !== undefined && c !== b.configurations[0] ? ` (${c.wholeSpeedup.toFixed(2)}x)` : ''}`).join(', ')}`]
      : []),
    ...noiseLines(b),
    `gate: ${b.gate.metric} may drop at most ${b.gate.maxDropPoints.toFixed(2)} points against the baseline`,
    'overhead: the share of a measured pass spent outside model executions (packing, unpacking, scoring)',
    'of peak: the weight matmuls\' FLOPs per second over the fp32 MatMul peak; a quantized configuration\'s integer work is counted as fp32 FLOPs, so it can pass 100 % and is left out of the noise rule',
  ];
  const reference = b.configurations.find((c) => c.reference);
  if (reference) lines.push(`vs ref: lm-eval-equivalent tokens/s over ${reference.label}'s (${reference.pairwiseTokensPerSecond.toFixed(0)} tok/s), same items, same invocation`);
  if (b.items.subsetNote) lines.push(`note: ${b.items.subsetNote}`);
  lines.push(`bench      ${files.file}`, `report     ${files.report}`);
  return `${lines.join('\n')}\n`;
}
