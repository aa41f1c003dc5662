/** `optibench rerun <submission-dir> --db <file>`: the organizer's sandboxed re-run of one submission. */
import { ensureWritableDir } from '../../../core/output-dir.js';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { parseGpuList } from '../../../sandbox/gpus.js';
import { formatPercentStderr } from '../../../report/filters.js';
import { DEFAULT_RERUN_LIMITS, type SandboxLimits } from '../../../sandbox/limits.js';
import { rerunSubmission } from '../rerun/rerun.js';
import { DEFAULT_GATE_METRIC, DEFAULT_MAX_DROP_POINTS } from '../gate.js';
import { SESSION_DEFAULTS } from '../sut/session.js';
import { EXIT } from '../../../core/cli/exit-codes.js';
import { nonNegativeInteger, nonNegativeNumber, positiveInteger, positiveNumber } from '../../../core/cli/options.js';
import { displayPath } from '../../../core/cli/terminal.js';
import { addProgressFlags, ProgressBar, wantsProgress, type ProgressFlags } from '../../../core/cli/progress.js';

interface RerunFlags extends ProgressFlags {
  db: string;
  team: string;
  referenceSpec?: string;
  dataset?: string;
  limit?: number;
  seed?: number;
  output: string;
  workRoot?: string;
  readOnly: string[];
  model?: string;
  gpus?: number[];
  timeout: number;
  memoryGb: number;
  processes: number;
  diskGb: number;
  baseline?: string;
  metric: string;
  maxDrop: number;
  passes: number;
  warmupItems: number;
  agreementTolerance: number;
  reissueTolerance: number;
}

const GiB = 1024 ** 3;

/** The limits as the flags set them; a flag left at its default keeps the default's companions (CPU time, file size). */
function limitsFrom(flags: RerunFlags, command: Command): SandboxLimits {
  const d = DEFAULT_RERUN_LIMITS;
  const given = (flag: keyof RerunFlags) => command.getOptionValueSource(flag) === 'cli';
  return {
    ...d,
    wallSeconds: flags.timeout,
    cpuSeconds: given('timeout') ? Math.ceil(flags.timeout * 64) : d.cpuSeconds,
    memoryBytes: Math.round(flags.memoryGb * GiB),
    processes: flags.processes,
    diskBytes: Math.round(flags.diskGb * GiB),
    fileBytes: given('diskGb') ? Math.round(flags.diskGb * GiB) : d.fileBytes,
  };
}

function gpuList(value: string): number[] {
  try {
    return parseGpuList(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function registerRerun(program: Command): void {
  const command = program
    .command('rerun')
    .description("Re-run a submission as the organizer: clone its commit, start it in a bubblewrap sandbox (no network, no labels, limits) as a system under test, ask it every item's requests and time each pass from outside, score its answers with the labels, record it")
    .argument('<submission-dir>', 'the folder holding optibench-submission.yaml')
    .requiredOption('--db <file>', 'the results database (created if missing)')
    .requiredOption('--team <id>', "whose submission this is, as you received it: the team's registration id (optibench team list); the manifest's team must be the same")
    .option('--reference-spec <file>', 'the reference server spec (default: the competition server shipped with optibench)')
    .option('--dataset <file>', 'the labelled HellaSwag file (default: the embedded tiny set)')
    .option('--limit <n>', 'score a deterministic subset of this many items (default: every item)', positiveInteger)
    .option('--seed <n>', 'seed of the --limit subset', nonNegativeInteger, 1234)
    .option('-o, --output <dir>', 'where reports/<run-id>/ is written', 'reports')
    .option('--work-root <dir>', 'where the fresh work dir is made (default: the system temp folder)')
    .option('-m, --model <dir>', "the model the re-run scores (a Hugging Face LLaMA directory), whatever the submission's config names (default: the embedded tiny model)")
    .option('--gpus <list>', 'NVIDIA GPUs passed into the sandbox, e.g. 0,1,2,3 (their device nodes and the driver\'s; default: none)', gpuList)
    .option('--read-only <path>', 'another host path the submission may read (repeatable)', (v: string, all: string[]) => [...all, path.resolve(v)], [])
    .option('--timeout <seconds>', 'wall-time limit of the submission in the sandbox; every process in it is killed past it', positiveNumber, DEFAULT_RERUN_LIMITS.wallSeconds)
    .option(
      '--memory-gb <n>',
      "data memory of each process, in GiB (RLIMIT_DATA: its heap and private writable mappings; an allocation past it fails). Not an address-space limit: memory only reserved, as V8's, does not count, and neither do files mapped read-only such as the model's weights",
      positiveNumber,
      DEFAULT_RERUN_LIMITS.memoryBytes / GiB,
    )
    .option('--processes <n>', "processes and threads of the sandbox's user together (RLIMIT_NPROC)", positiveInteger, DEFAULT_RERUN_LIMITS.processes)
    .option('--disk-gb <n>', 'what the submission writes under its work dir together, in GiB (past it the sandbox is killed); also the size of any one file it writes (RLIMIT_FSIZE)', positiveNumber, DEFAULT_RERUN_LIMITS.diskBytes / GiB)
    .option('--baseline <run-id>', 'the baseline run to judge against (default: the newest complete baseline in --db that scored the same items)')
    .option('--metric <name>', 'the metric the accuracy gate judges', DEFAULT_GATE_METRIC)
    .option('--max-drop <points>', 'largest allowed drop of the metric against the baseline, in points', nonNegativeNumber, DEFAULT_MAX_DROP_POINTS)
    .option('--passes <n>', 'measured passes over every item (pass 1 is scored and ranked; later ones check it, and 2 or more check re-issued requests)', positiveInteger, SESSION_DEFAULTS.passes)
    .option('--warmup-items <n>', "documents' worth of random-token warm-up requests before the measured passes", nonNegativeInteger, SESSION_DEFAULTS.warmupItems)
    .option('--agreement-tolerance <nats>', "largest difference allowed between a request's log-prob in a later pass and in pass 1, per continuation token", nonNegativeNumber, SESSION_DEFAULTS.agreementTolerance)
    .option('--reissue-tolerance <share>', 'how much faster than pass 1 a later pass may be (beyond 1 s) before the SUT is taken to remember answers', nonNegativeNumber, SESSION_DEFAULTS.reissueTolerance);
  addProgressFlags(command).action(async (dir: string, flags: RerunFlags) => {
    await ensureWritableDir(flags.output, '--output');
    if (flags.workRoot) await ensureWritableDir(flags.workRoot, '--work-root');
    const bar = new ProgressBar(wantsProgress(flags), 'requests');
    const outcome = await rerunSubmission({
      submissionDir: dir,
      db: flags.db,
      team: flags.team,
      referenceSpec: flags.referenceSpec,
      dataset: flags.dataset,
      limit: flags.limit ?? null,
      seed: flags.seed,
      limits: limitsFrom(flags, command),
      outputDir: path.resolve(flags.output),
      workRoot: flags.workRoot,
      readOnly: flags.readOnly,
      ...(flags.model ? { model: path.resolve(flags.model) } : {}),
      ...(flags.gpus ? { gpus: flags.gpus } : {}),
      baseline: flags.baseline,
      gate: { metric: flags.metric, maxDropPoints: flags.maxDrop },
      session: { passes: flags.passes, warmupItems: flags.warmupItems, agreementTolerance: flags.agreementTolerance, reissueTolerance: flags.reissueTolerance },
      onProgress: (m) => bar.log(`optibench: ${m}`),
      onAnswered: (done, total, pass) => bar.update(done, total, `pass ${pass}`),
    });
    bar.stop();
    const machine = outcome.reference.match ? 'the reference server' : `NOT the reference server (${outcome.reference.differences.join('; ')})`;
    if (outcome.status === 'failed') {
      process.stderr.write(`optibench: error: re-run ${outcome.runId} failed: ${outcome.error}\n`);
      process.stderr.write(`optibench: recorded as failed in ${displayPath(flags.db)}; machine: ${machine}\n`);
      process.exitCode = EXIT.runFailed;
      return;
    }
    const r = outcome.results!;
    const lines = [`optibench rerun ${outcome.runId}: ${r.payload.task.dataset.selectedDocs} of ${r.payload.task.dataset.totalDocs} items, rescored with the real labels`];
    for (const [name, m] of Object.entries(r.metrics)) lines.push(`  ${name.padEnd(10)} ${formatPercentStderr(m.value, m.stderr)} %`);
    const passes = r.timings.inference.repeats.map((ms) => `${ms.toFixed(1)}`).join(', ');
    lines.push(`  inference  ${r.headline.value === null ? 'not measured' : `${r.headline.value.toFixed(1)} ms`} (pass 1, ranked; passes ${passes} ms, timed by the organizer's harness outside the sandbox)`);
    lines.push(`  machine    ${machine}`);
    const gate = outcome.gate;
    if (gate) {
      const judged = gate.metrics.find((m) => m.name === gate.gate.metric)!;
      const base = outcome.baselineRunId ? ` against baseline ${outcome.baselineRunId}` : '';
      lines.push(`  gate       ${gate.verdict.pass ? 'PASS' : 'FAIL'}${base}: ${gate.verdict.reason}`);
      lines.push(`             ${gate.gate.metric} ${formatPercentStderr(judged.candidate, null)} % vs ${formatPercentStderr(judged.baseline, null)} %`);
    } else {
      lines.push('  gate       not judged: no complete baseline in the database scored these items (record one with optibench run --db <file> --as-baseline)');
    }
    lines.push(`  report     ${displayPath(outcome.reportDir)}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    if (gate && !gate.verdict.pass) process.exitCode = EXIT.gateFailed;
  });
}
