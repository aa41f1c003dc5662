/**
 * The organizer's re-run of one submission: check the manifest, clone the commit into a fresh work dir, start
 * the submission in the sandbox as a system under test (sut/PROTOCOL.md), ask it the selected items' requests
 * and time every pass from outside, score its answers with the real labels (which never enter the sandbox),
 * and record team, submission and run (kind `rerun`) with the machine and the reference-server check.
 * A run that fails or is stopped is recorded as failed with its reason; a run is `complete` only in the
 * transaction that writes its metrics.
 */
import { realpathSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { loadConfig } from '../config.js';
import { defaultDatasetPath, ensureDefaultModel } from '../embedded-default.js';
import { configSha256 } from '../../../core/canonical-json.js';
import { checkPluginsResolve } from '../../../core/plugin-loader.js';
import { captureEnvironment } from '../../../core/environment.js';
import type { JsonObject } from '../../../core/json.js';
import { listWeights, readLlamaConfig } from '../../../models/llama/hf-model.js';
import { weightsSha256 } from '../../../models/llama/weights-hash.js';
import { OptibenchError } from '../../../core/errors.js';
import { defaultCacheDir, packageRoot } from '../../../core/paths.js';
import { writeResultFile } from '../../../core/result-file.js';
import type { InferenceResult } from '../results.js';
import { newRunId } from '../runner.js';
import { writeRunReport } from '../report/render-run.js';
import type { SandboxLimits } from '../../../sandbox/limits.js';
import { nvidiaDevices } from '../../../sandbox/gpus.js';
import { bubblewrap, type SandboxResult } from '../../../sandbox/sandbox.js';
import type { ResultsStore, StoredRun } from '../../../core/store.js';
import { INFERENCE_EVALUATOR_ID } from '../hooks.js';
import { createRun, failRun, finishRun, openInferenceStore } from '../store/runs.js';
import { DEFAULT_GATE_METRIC, DEFAULT_MAX_DROP_POINTS, type GateOptions, type GateResult } from '../gate.js';
import { hellaswagTask } from '../../../tasks/hellaswag/index.js';
import { checkSubmission, formatProblem } from '../../../submissions/check.js';
import { cloneAtCommit } from '../../../submissions/clone.js';
import { selectItems, type SelectedItems } from './items.js';
import type { SubmissionManifest } from '../../../submissions/manifest.js';
import { submittingTeam } from '../../../submissions/team.js';
import { compareWithReference, loadReferenceSpec, nvidiaDriverVersion, type ReferenceCheck } from '../../../submissions/reference-spec.js';
import { SutClient } from '../sut/client.js';
import { optibenchMounts, serveCommand } from '../sut/local.js';
import { planForSut } from '../sut/prepare.js';
import { sutResults } from '../sut/results.js';
import { measureSut, SESSION_DEFAULTS, SessionFailure, type SessionOptions } from '../sut/session.js';
import { randomShuffleSeed } from '../../../core/item-order.js';
import { findBaseline, judgeAgainstBaseline } from './baseline.js';

const DEFAULT_GATE: GateOptions = { metric: DEFAULT_GATE_METRIC, maxDropPoints: DEFAULT_MAX_DROP_POINTS };

export interface RerunOptions {
  readonly submissionDir: string;
  readonly db: string;
  /** Whose submission this is (a registered team id), as the organizer received it; the manifest must agree. */
  readonly team: string;
  readonly referenceSpec?: string;
  /** The labelled dataset; the embedded tiny set when left out. */
  readonly dataset?: string;
  readonly limit?: number | null;
  readonly seed?: number;
  readonly limits: SandboxLimits;
  /** Where reports/<run-id>/ goes. */
  readonly outputDir: string;
  /** Where the work dir is made (fresh each time, removed afterwards). */
  readonly workRoot?: string;
  /** Where the embedded default model is generated, outside the sandbox. */
  readonly cacheDir?: string;
  /**
   * The model the re-run scores (a Hugging Face LLaMA directory), the organizer's choice: a submission's config
   * cannot name what the host mounts. The embedded tiny model when left out.
   */
  readonly model?: string;
  /** Extra host paths the submission may read. */
  readonly readOnly?: readonly string[];
  /** NVIDIA GPUs (indices) passed into the sandbox: their device nodes and the driver's, nothing else of /dev. */
  readonly gpus?: readonly number[];
  readonly submittedAt?: Date;
  readonly onProgress?: (message: string) => void;
  /** Requests the submission has answered so far in a measured pass (for a progress bar). */
  readonly onAnswered?: (answered: number, total: number, pass: number) => void;
  /** The baseline run to judge against; by default the newest complete baseline that scored the same items. */
  readonly baseline?: string;
  /** The accuracy gate (default: acc_norm may drop 0.5 points). */
  readonly gate?: GateOptions;
  /** How the SUT is measured (passes, warm-up, tolerances); `SESSION_DEFAULTS` for what is left out. */
  readonly session?: Partial<Omit<SessionOptions, 'modelDir' | 'cacheDir' | 'vocabSize' | 'onPhase' | 'onProgress'>>;
}

export interface RerunOutcome {
  readonly runId: string;
  readonly status: 'complete' | 'failed';
  readonly error: string | null;
  readonly results: InferenceResult | null;
  readonly sandbox: SandboxResult | null;
  readonly reference: ReferenceCheck;
  readonly reportDir: string;
  /** The gate's verdict against the baseline; null when failed or when the database holds no fitting baseline. */
  readonly gate: GateResult | null;
  readonly baselineRunId: string | null;
}

interface Layout {
  readonly work: string;
  readonly repo: string;
  readonly cache: string;
  readonly home: string;
}

async function makeLayout(root: string, runId: string): Promise<Layout> {
  await mkdir(root, { recursive: true });
  const work = await mkdtemp(path.join(root, `optibench-rerun-${runId}-`));
  const layout = { work, repo: path.join(work, 'repo'), cache: path.join(work, 'cache'), home: path.join(work, 'home') };
  for (const dir of [layout.cache, layout.home]) await mkdir(dir);
  return layout;
}

/** What the sandbox runs for a submission (a SUT), and the host paths it may read. */
interface SandboxPlan {
  readonly form: 'config' | 'command';
  readonly command: string[];
  readonly readOnly: string[];
}

/**
 * The command and mounts of a submission. The model is the organizer's (`model`), whatever the team's config
 * says: the config is only parsed here (its plugins load inside the sandbox), and a model it names is replaced,
 * never mounted.
 */
async function planRun(manifest: SubmissionManifest, layout: Layout, model: string, options: RerunOptions): Promise<SandboxPlan> {
  const readOnly = [...(options.readOnly ?? []), model];
  if ('command' in manifest.run) return { form: 'command', command: [...manifest.run.command], readOnly };
  const configFile = path.join(layout.repo, manifest.run.config);
  const { config } = await loadConfig(configFile, {}, layout.repo);
  if (config.model !== null) options.onProgress?.(`the config names the model ${config.model}: the re-run scores the organizer's ${model} instead`);
  return { form: 'config', command: serveCommand(configFile), readOnly: [...optibenchMounts(), ...readOnly] };
}

/** The organizer's own checkout (or a folder around it) is never a submission: it holds the labels of the embedded set. */
function refuseOwnCheckout(url: string): void {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/]+@[^:]+:/.test(url)) return;
  let repository: string;
  try {
    repository = realpathSync(path.resolve(url));
  } catch {
    return; // cloning will say it does not exist
  }
  const root = realpathSync(packageRoot());
  const inside = (a: string, b: string) => a === b || a.startsWith(b + path.sep);
  if (inside(repository, root) || inside(root, repository)) {
    throw new OptibenchError(`the submission's repository ${url} is the organizer's own optibench checkout (or holds it): it is never a valid submission`, { key: 'repository.url' });
  }
}

/** Refuses (before anything is recorded) a team that is not registered, or a manifest naming another team than the organizer's. */
function findOrAddSubmission(store: ResultsStore, manifest: SubmissionManifest, submittedAt: Date | undefined, team: string): number {
  const teamId = submittingTeam(store, manifest.team, team).rowId;
  const facts = { teamId, evaluator: INFERENCE_EVALUATOR_ID, repository: manifest.repository.url, commitSha: manifest.repository.commit, round: manifest.round };
  return store.findSubmission(facts) ?? store.addSubmission({ ...facts, document: manifest.document, manifest, submittedAt });
}

async function checkedManifest(dir: string): Promise<SubmissionManifest> {
  const check = await checkSubmission(dir, async (file, root) => {
    const { config } = await loadConfig(file, {}, root);
    checkPluginsResolve(config.plugins, root);
  });
  if (check.problems.length > 0) {
    const more = check.problems.length > 1 ? ` (and ${check.problems.length - 1} more: run optibench submission check)` : '';
    throw new OptibenchError(`invalid submission: ${formatProblem(check.problems[0]!)}${more}`);
  }
  return check.manifest!;
}

export async function rerunSubmission(options: RerunOptions): Promise<RerunOutcome> {
  const say = options.onProgress ?? (() => {});
  const manifest = await checkedManifest(options.submissionDir);
  refuseOwnCheckout(manifest.repository.url);
  // Whose submission it is, before anything expensive (hashing a 60 GB model): the organizer's word, the
  // manifest agreeing, the id registered.
  const teams = openInferenceStore(options.db);
  try {
    submittingTeam(teams, manifest.team, options.team);
  } finally {
    teams.close();
  }
  const devices = nvidiaDevices(options.gpus ?? []);
  const spec = await loadReferenceSpec(options.referenceSpec);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  // The organizer's model, read and hashed here: what the results say of it is measured outside the sandbox.
  const model = path.resolve(options.model ?? (await ensureDefaultModel(cacheDir, say)));
  const modelConfig = await readLlamaConfig(model);
  const modelFacts = { dir: model, weightsSha256: await weightsSha256((await listWeights(model)).files, cacheDir), config: modelConfig as unknown as JsonObject };
  const datasetPath = path.resolve(options.dataset ?? defaultDatasetPath());
  const limit = options.limit ?? null;
  const seed = options.seed ?? 1234;
  const items: SelectedItems = await selectItems(datasetPath, limit, seed);
  const driver = await nvidiaDriverVersion();
  const environment = await captureEnvironment(driver ? { 'nvidia-driver': driver } : {});
  const reference = compareWithReference(spec, environment);

  // The requests, tokenized here from the labelled items: the sandbox never sees the items at all.
  const sutPlan = await planForSut(items.docs, model);
  const startedAt = new Date();
  const t0 = performance.now();

  const db = openInferenceStore(options.db);
  // Before the run, so a baseline that cannot judge it is refused before the expensive part.
  let baseline: StoredRun | undefined;
  try {
    baseline = findBaseline(db, { datasetSha256: items.datasetSha256, totalItems: items.docs.length, limit, seed }, options.baseline);
  } catch (error) {
    db.close();
    throw error;
  }
  const runId = newRunId('hellaswag');
  const reportDir = path.join(options.outputDir, runId);
  // Absolute: the sandboxed command runs in the clone, and the paths it is given must not depend on its cwd.
  const layout = await makeLayout(path.resolve(options.workRoot ?? os.tmpdir()), runId);
  let recorded = false;
  /** What the organizer runs: the submission's own run settings on the selected items. */
  const session: SessionOptions = { ...SESSION_DEFAULTS, seed: randomShuffleSeed(), ...options.session, modelDir: model, cacheDir: layout.cache, vocabSize: sutPlan.vocabSize, onProgress: options.onAnswered };
  const { passes, warmupItems, agreementTolerance, reissueTolerance, reissueFloorMs } = session;
  const rerunConfig = { manifestRun: manifest.run, limit, seed, modelWeightsSha256: modelFacts.weightsSha256, measurement: { passes, warmupItems, agreementTolerance, reissueTolerance, reissueFloorMs } };
  try {
    const submissionId = findOrAddSubmission(db, manifest, options.submittedAt, options.team);
    const fail = async (error: string, sandbox: SandboxResult | null): Promise<RerunOutcome> => {
      failRun(db, runId, error, { machine: environment, reference });
      return { runId, status: 'failed', error, results: null, sandbox, reference, reportDir, gate: null, baselineRunId: baseline?.id ?? null };
    };
    createRun(db, { id: runId, kind: 'rerun', submissionId, config: rerunConfig, configSha256: configSha256(rerunConfig), datasetPath, datasetSha256: items.datasetSha256, totalItems: items.docs.length, shuffleSeed: session.seed });
    recorded = true;

    say(`cloning ${manifest.repository.url} at ${manifest.repository.commit.slice(0, 12)}`);
    try {
      await cloneAtCommit(manifest.repository.url, manifest.repository.commit, layout.repo);
    } catch (error) {
      if (error instanceof OptibenchError) return await fail(error.oneLine(), null);
      throw error;
    }
    let plan: SandboxPlan;
    try {
      plan = await planRun(manifest, layout, model, options);
    } catch (error) {
      if (error instanceof OptibenchError) return await fail(error.oneLine(), null);
      throw error;
    }

    say(`starting the submission in the sandbox (a ${plan.form} SUT); ${items.docs.length} items`);
    const running = await bubblewrap.start({
      command: plan.command,
      cwd: layout.repo,
      workDir: layout.work,
      inputs: plan.readOnly,
      hidden: [datasetPath, path.dirname(defaultDatasetPath())],
      devices,
      env: {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        HOME: layout.home,
        OPTIBENCH_MODEL: model,
        ...(options.gpus?.length ? { CUDA_VISIBLE_DEVICES: options.gpus.join(',') } : {}),
        LANG: 'C.UTF-8',
        TMPDIR: '/tmp',
        PYTHONUNBUFFERED: '1',
        OPTIBENCH_CACHE_DIR: layout.cache,
      },
      limits: options.limits,
    });
    const ended = running.outcome.then((o) => o.violation?.message ?? `exited with code ${o.exitCode}`);
    const client = new SutClient({ stdin: running.stdin, stdout: running.stdout, ended });
    let measurement;
    let failure: string | null = null;
    try {
      measurement = await measureSut(client, { requests: sutPlan.plan.requests, requestsByDoc: sutPlan.plan.requestsByDoc }, { ...session, onPhase: say });
    } catch (error) {
      if (!(error instanceof SessionFailure)) {
        running.stop(`optibench failed: ${error instanceof Error ? error.message : String(error)}`);
        throw error;
      }
      failure = error.reason;
      running.stop(error.reason);
    }
    // A SUT that said bye and lingers is ended: its answers are all in.
    const linger = setTimeout(() => running.stop('the SUT did not exit within 10 s of close'), 10_000);
    const sandbox = await running.outcome.finally(() => clearTimeout(linger));
    await mkdir(reportDir, { recursive: true });
    await writeFile(path.join(reportDir, 'sandbox.log'), `--- stderr (last 64 KiB)\n${sandbox.stderrTail}\n`);
    // A limit that ended the sandbox is the cause worth naming; the protocol error it caused is its symptom.
    if (failure !== null || !measurement) {
      const limit = sandbox.violation && !['stopped', 'exit', 'crash'].includes(sandbox.violation.kind) ? sandbox.violation.message : null;
      return await fail(limit ?? failure ?? 'the SUT session ended without a measurement', sandbox);
    }

    const results = sutResults({
      runId,
      startedAt,
      config: rerunConfig as unknown as JsonObject,
      subject: { configSha256: configSha256(rerunConfig), team: manifest.team, commit: manifest.repository.commit },
      environment,
      task: hellaswagTask,
      plan: sutPlan.plan,
      dataset: { path: datasetPath, sha256: items.datasetSha256, totalDocs: items.totalDocs, selectedDocs: items.docs.length, limit, seed },
      model: modelFacts,
      form: plan.form,
      session,
      measurement,
      prepareMs: sutPlan.prepareMs,
      totalMs: performance.now() - t0,
    });
    const resultsPath = await writeResultFile(results, reportDir);
    const reportPath = await writeRunReport(results, reportDir);
    finishRun(db, runId, results, { resultsPath, reportPath, reference });
    const gate = baseline ? await judgeAgainstBaseline(db, runId, results, baseline, options.gate ?? DEFAULT_GATE) : null;
    return { runId, status: 'complete', error: null, results, sandbox, reference, reportDir, gate, baselineRunId: baseline?.id ?? null };
  } catch (error) {
    // An unexpected failure still leaves the run failed, not running, when the database can take it.
    if (recorded) {
      try {
        failRun(db, runId, `optibench failed: ${error instanceof Error ? error.message : String(error)}`, { machine: environment, reference });
      } catch {
        // The original error matters more than a second one.
      }
    }
    throw error;
  } finally {
    db.close();
    await rm(layout.work, { recursive: true, force: true });
  }
}
