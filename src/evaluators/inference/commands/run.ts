/** `optibench run`: one evaluation, then results.json and the HTML report under <outputDir>/<run-id>/. */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { OptibenchError } from '../../../core/errors.js';
import { MAX_PROFILED_BATCHES } from '../profile-operators.js';
import { floatMatmulRate, sharesByOperator, sharesByScope, type Share } from '../operator-shares.js';
import { evaluateAndWrite, RescuedOutput, StoppedEvaluation } from '../../../core/evaluation.js';
import { recordedSelection, type InferenceResult } from '../results.js';
import { describeSelection } from '../../../core/subset.js';
import { runEvaluation } from '../runner.js';
import { renderRunReportWithTexts } from '../report/render-run.js';
import { randomWeightModel } from '../embedded-default.js';
import { formatBytes, formatMs, formatPercentStderr } from '../../../report/filters.js';
import { EXIT } from '../../../core/cli/exit-codes.js';
import { addRunFlags, type RunFlags } from './run-flags.js';
import { addRecordFlags, prepareRunCommand, recordFailure, recordLines, type PreparedRunCommand, type RecordFlags } from './run-record.js';
import { displayPath, interruptible } from '../../../core/cli/terminal.js';
import { addProgressFlags, ProgressBar, wantsProgress, type ProgressFlags } from '../../../core/cli/progress.js';
import { outputFormatOption, writeLmEvalBeside, type OutputFormat } from './export.js';
import { defaultCacheDir } from '../../../core/paths.js';

interface RunCommandFlags extends RunFlags, RecordFlags, ProgressFlags {
  outputFormat: OutputFormat;
  /** Batches to profile operator by operator after the measured passes; true: the default count. */
  profileOps?: number | true;
}

/** Batches `--profile-ops` profiles when given no number. */
const DEFAULT_PROFILED_BATCHES = 16;

function profiledBatches(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PROFILED_BATCHES) throw new InvalidArgumentError(`expected a whole number of batches from 1 to ${MAX_PROFILED_BATCHES}`);
  return n;
}

export function registerRun(program: Command): void {
  const command = program
    .command('run')
    .description('Score a model on a task and write results.json and an HTML report (defaults: the embedded tiny LLaMA and tiny HellaSwag set)');
  addProgressFlags(addRecordFlags(addRunFlags(command)))
    .addOption(outputFormatOption())
    .option(
      '--profile-ops [batches]',
      `after the measured passes, profile this many of the run's batches (spread along the pass) operator by operator with ONNX Runtime's profiler, in a second session so the measured times are never profiled (onnx backend; default when given without a number: ${DEFAULT_PROFILED_BATCHES})`,
      profiledBatches,
    )
    .addHelpText(
      'after',
      '\nExamples:\n  optibench run\n  optibench run --model ~/models/llama-30b --dataset hellaswag_val.jsonl --limit 500\n  optibench run -c bench.yaml --plugin onnx-session --repeats 3\n  optibench run --plugin kernel-fusion --profile-ops\n',
    )
    .action(async (flags: RunCommandFlags) => {
      process.exitCode = await runCommand(flags);
    });
}

async function runCommand(flags: RunCommandFlags): Promise<number> {
  const prepared = await prepareRunCommand(flags);
  try {
    return await runAndRecord(flags, prepared);
  } finally {
    prepared.close();
  }
}

async function runAndRecord(flags: RunCommandFlags, { config, runId, options: prepared, hooks, recorder }: PreparedRunCommand): Promise<number> {
  if (flags.profileOps !== undefined && config.backend.name !== 'onnx') {
    throw new OptibenchError(`--profile-ops reads ONNX Runtime's profiler: it needs --backend onnx (this run uses ${config.backend.name})`);
  }
  const options = flags.profileOps === undefined ? prepared : { ...prepared, profileOperators: flags.profileOps === true ? DEFAULT_PROFILED_BATCHES : flags.profileOps };
  const outDir = path.join(config.outputDir, runId);
  const err = process.stderr;
  const bar = new ProgressBar(wantsProgress(flags), 'requests');
  const stopBar = () => bar.stop();
  let written;
  try {
    written = await evaluateAndWrite(
      () =>
        interruptible((signal) =>
          runEvaluation(
            config,
            {
              ...hooks,
              signal,
              phase(phase, message) {
                if (phase === 'inference') return;
                stopBar();
                err.write(`optibench: ${message}\n`);
              },
              progress(done, total, repeat, repeats) {
                bar.update(done, total, repeats > 1 ? `repeat ${repeat + 1}/${repeats}` : 'measuring');
              },
            },
            runId,
            options,
          ),
        ),
      outDir,
      {
        label: 'inference',
        render: renderRunReportWithTexts,
        hasWork: (partial) => partial.payload.items.length > 0,
        cacheDir: config.cacheDir ?? defaultCacheDir(),
        onFailure: (error) => {
          stopBar();
          recordFailure(recorder, error);
        },
      },
    );
  } catch (error) {
    // Written elsewhere: the database points at where the files are, then the error says so.
    if (error instanceof RescuedOutput && (error as RescuedOutput<InferenceResult>).written.result.status === 'complete') {
      const rescued = (error as RescuedOutput<InferenceResult>).written;
      recorder?.finish(rescued.result, { resultsPath: rescued.resultsFile, reportPath: rescued.reportFile! });
    }
    if (!(error instanceof StoppedEvaluation)) throw error;
    const partial = (error as StoppedEvaluation<InferenceResult>).partial;
    err.write(`optibench: error: the run stopped: ${partial.error ?? 'unknown error'}\n`);
    const requests = partial.payload.partialRequests?.length ? `; with them ${partial.payload.partialRequests.length} finished requests of unfinished items, which --resume does not compute again` : '';
    err.write(`optibench: ${partial.payload.items.length} finished items saved in ${displayPath(error.resultsFile)} (status: incomplete)${requests}\n`);
    return EXIT.runFailed;
  }
  const results = written.result;
  const { resultsFile } = written;
  const reportFile = written.reportFile!;
  recorder?.finish(results, { resultsPath: resultsFile, reportPath: reportFile });
  // A resumed run may have left one from its failed attempt; the complete file supersedes it.
  await rm(path.join(outDir, 'results.incomplete.json'), { force: true });
  process.stdout.write(summary(results, resultsFile, reportFile));
  return flags.outputFormat === 'lm-eval' ? writeLmEvalBeside(results, outDir) : EXIT.ok;
}

/** Where the model ran: the worker's peak when it had one (optibench's own process then only drives it). */
function peakRss(r: InferenceResult): string {
  const worker = r.payload.workerPeakRssBytes;
  if (worker === undefined) return formatBytes(r.payload.peakRssBytes);
  return `${formatBytes(worker)} (the ${r.payload.backend.name} worker; optibench itself ${formatBytes(r.payload.peakRssBytes)})`;
}

/** The operator profile in three lines: what was profiled, then the largest shares by operator and by scope. */
function profileLines(p: NonNullable<InferenceResult['payload']['operatorProfile']>): string[] {
  const rate = floatMatmulRate(p.kernels);
  const top = (shares: readonly Share[]) =>
    shares
      .slice(0, 8)
      .map((s) => `${s.name} ${(100 * s.share).toFixed(1)} %`)
      .join(' · ');
  return [
    `  operators  ${p.batches} batches profiled after ${p.warmupBatches} warm-up (a second session, after the measured passes): kernels ${formatMs(p.kernelMs)} of ${formatMs(p.runMs)} inside ONNX Runtime`,
    `             by operator: ${top(sharesByOperator(p.kernels))}`,
    `             by scope:    ${top(sharesByScope(p.kernels))}`,
    ...(rate ? [`             float matrix products: ${rate.gflops.toFixed(1)} GFLOP/s over their kernel time (${(100 * rate.share).toFixed(1)} % of it)`] : []),
  ];
}

/** What `optibench run` prints when it finishes. */
export function summary(r: InferenceResult, resultsFile: string, reportFile: string): string {
  const lines: string[] = [];
  const ds = r.payload.task.dataset;
  const inf = r.timings.inference;
  lines.push(`optibench ${r.runId}: ${r.payload.task.name}, ${describeSelection(recordedSelection(ds), ds.selectedDocs, ds.totalDocs)}, ${r.payload.backend.name} (${String(r.payload.backend.session.executionProvider)}, ${String(r.payload.backend.build.dtype)})`);
  const random = randomWeightModel(r.payload.model.config);
  if (random) {
    const which = random.embeddedDefault ? 'the embedded tiny model' : `a model optibench generated (seed ${random.seed})`;
    lines.push(`  note       ${which} has random weights: its accuracy is chance by construction (pass --model a trained model to measure accuracy)`);
  }
  const names = [r.payload.primaryMetric, ...Object.keys(r.metrics).filter((n) => n !== r.payload.primaryMetric)];
  for (const name of names) {
    const m = r.metrics[name];
    if (m) lines.push(`  ${name.padEnd(10)} ${formatPercentStderr(m.value, m.stderr)} %${name === r.payload.primaryMetric ? '   (headline)' : ''}`);
  }
  const repeats = inf.repeats.length;
  lines.push(
    `  inference  ${inf.medianMs === null ? 'not measured' : `${formatMs(inf.medianMs)} (median of ${repeats}) · ${r.payload.throughput.itemsPerSecond.toFixed(2)} items/s · ${Math.round(r.payload.throughput.tokensPerSecond)} tokens/s`}${typeof r.timings.harnessOverhead === 'number' ? ` · harness ${(100 * r.timings.harnessOverhead).toFixed(1)} %` : ''}`,
  );
  const batchLatency = r.timings.batches?.latency;
  if (batchLatency) {
    lines.push(`  batches    p50 ${formatMs(batchLatency.p50Ms)} · p90 ${formatMs(batchLatency.p90Ms)} · p99 ${formatMs(batchLatency.p99Ms)} (${batchLatency.count} batch times)`);
  }
  const cache = r.payload.backend.name !== 'onnx' ? '' : r.payload.backend.load.cacheHit === true ? ' (graph from cache)' : ' (graph built now)';
  lines.push(`  load       ${formatMs(r.timings.loadMs)}${cache} · warm-up ${formatMs(r.timings.warmupMs)} · peak RSS ${peakRss(r)}`);
  if (r.payload.operatorProfile) lines.push(...profileLines(r.payload.operatorProfile));
  lines.push(...recordLines(r));
  lines.push(`  results    ${displayPath(resultsFile)}`);
  lines.push(`  report     ${displayPath(reportFile)}`);
  return `${lines.join('\n')}\n`;
}
