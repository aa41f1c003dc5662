/**
 * One evaluation run, in the order data flows: config -> plan -> backend requests -> scores -> results.
 *
 * The runner owns the clock: model load, warm-up and each measured pass are timed here, around backend
 * calls, and nowhere else. If the run fails part-way, the error carries the results computed so far
 * (status `incomplete`) so nothing already computed is lost.
 */
import { performance } from 'node:perf_hooks';
import { createBackend } from '../../backends/index.js';
import { modelInfo, readLlamaConfig } from '../../models/llama/hf-model.js';
import { sha256File } from '../../models/llama/weights-hash.js';
import { getTask } from '../../tasks/index.js';
import { loadTokenizer } from '../../tokenizers/tokenizer.js';
import type { Backend, BatchAnswer, BuildSettings, JsonValue, LoadInfo, SessionSettings, TokenAnswer, TokenRequest } from '../../core/backend.js';
import { checkCanary, planCanary, withCanaryBatches, type CanaryOptions } from './canary.js';
import { inferenceConfigSha256, selectionOf, type RunConfig } from './config.js';
import { defaultDatasetPath, ensureDefaultModel } from './embedded-default.js';
import { captureEnvironment, peakRssBytes, type Environment } from '../../core/environment.js';
import { OptibenchError } from '../../core/errors.js';
import { EvaluationFailure } from '../../core/evaluator.js';
import { newRunId } from '../../core/run-id.js';
import { defaultCacheDir } from '../../core/paths.js';
import { backendSettings } from './backend-settings.js';
import { buildPlan, positionsOf, type Plan } from './plan.js';
import { loadPlugins, type LoadedInferencePlugin as LoadedPlugin } from './plugins.js';
import { RESULT_SCHEMA_ID, RESULT_VERSION } from '../../core/result.js';
import type { JsonObject } from '../../core/json.js';
import { INFERENCE_EVALUATOR_ID, INFERENCE_EVALUATOR_VERSION } from './hooks.js';
import { inferenceHeadline, selectionRecord, type CarriedRequest, type InferencePayload, type InferenceTimings, type InferenceResult, type ItemResult } from './results.js';
import { profileOperators, type OperatorProfileRecord } from './profile-operators.js';
import { scheduleRequests } from './schedule.js';
import { scoredItem } from './scored-item.js';
import { selectDocs } from '../../core/subset.js';
import { checkShuffleSeed, randomShuffleSeed, shuffleItems } from '../../core/item-order.js';
import { createRandom } from '../../core/random.js';
import type { DocOutcome, MultipleChoiceDoc, Task } from '../../core/task.js';
import { latencySummary, median, repeatStats } from '../../core/timing.js';
import { ProgressBar } from '../../core/cli/progress.js';
import type { Pacer } from './interleave.js';

export type RunPhase = 'prepare' | 'load' | 'warmup' | 'inference' | 'profile';

/** What a caller may measure on the loaded backend once the measured repeats are done (see `afterInference`). */
export interface LoadedRun {
  readonly backend: Backend;
  readonly batches: readonly (readonly TokenRequest[])[];
}

export interface RunObserver {
  /**
   * Called after the measured repeats, before the backend closes: a benchmark can time single batches here
   * (tinybench) without loading the model again. What it returns is stored in the results as `micro`.
   */
  afterInference?(run: LoadedRun): Promise<{ [key: string]: JsonValue }>;
  /** Aborting stops the run between batches; the results so far come back as a RunFailure. */
  signal?: AbortSignal;
  /** A new phase, with a line for the user. */
  phase?(phase: RunPhase, message: string): void;
  /** Requests answered so far in the current measured repeat. */
  progress?(done: number, total: number, repeat: number, repeats: number): void;
  /** Once the run is prepared, before the model loads: what it will score (e.g. to create its database row). */
  onPrepared?(run: PreparedRun): void;
  /**
   * Documents finished during the first measured pass, after each batch that finished any. The time spent
   * here is taken out of the pass's measured time.
   */
  onItems?(items: readonly ItemResult[]): void;
}

/** What a prepared run is about to do. */
export interface PreparedRun {
  readonly runId: string;
  readonly configSha256: string;
  readonly datasetPath: string;
  readonly datasetSha256: string;
  /** Items the run scores in all, carried-over ones included. */
  readonly totalItems: number;
  readonly shuffleSeed: number;
  /** Dataset indices of the documents to compute, in the (shuffled) order they are issued in. */
  readonly itemOrder: readonly number[];
}

export interface RunOptions {
  /** Seed of the items' order; a random one when left out. Recorded in the results either way. */
  readonly shuffleSeed?: number;
  /**
   * Items already finished by an earlier, interrupted run of the same config, by dataset index: they are not
   * computed again, and the results merge them in (`resumed` says how many).
   */
  readonly resume?: ReadonlyMap<number, ItemResult>;
  /** Answered requests of items the interrupted run did not finish: not computed again either. */
  readonly resumeRequests?: readonly CarriedRequest[];
  /** Re-issue this many documents per measured pass with their endings reordered (see `core/canary.ts`). */
  readonly canary?: CanaryOptions;
  /** The backend to run instead of the config's (tests: a deliberately wrong backend the canary must catch). */
  readonly createBackend?: () => Backend;
  /** The config's plugins, already loaded (by the generic evaluation path); loaded from the config otherwise. */
  readonly plugins?: readonly LoadedPlugin[];
  /** Whose entry this is (a team's submission and its commit), recorded in the result's subject. */
  readonly subject?: { readonly team: string | null; readonly commit: string | null };
  /**
   * Turns for interleaved measurement (`interleave.ts`): awaited before each measured turn (a pass, or one
   * segment of a pass) and before the after-inference work, so several loaded runs take their turns in order.
   */
  readonly pacer?: Pacer;
  /**
   * Split every measured pass into this many turns over contiguous slices of the items (in the run's item
   * order), each slice scheduled on its own, so a pass over many items can be interleaved with another
   * configuration's slice by slice. Default 1: one turn per pass, one schedule over all items.
   */
  readonly segments?: number;
  /**
   * After the measured passes, profile this many of the run's batches operator by operator, in a second
   * session with the runtime's profiler on (`profile-operators.ts`); the measured passes never run profiled.
   */
  readonly profileOperators?: number;
}

/** A run that failed after computing something: `partial` holds it, with status `incomplete`. */
export class RunFailure extends EvaluationFailure<InferencePayload> {
  declare readonly partial: InferenceResult;

  constructor(partial: InferenceResult, cause: unknown) {
    super(partial, cause);
    this.name = 'RunFailure';
  }
}

/**
 * Step lines on stderr, prefixed with the configuration they belong to, and a bar of the requests answered in
 * each measured repeat when progress is on; `signal` stops the run between batches.
 */
export function stderrObserver(label: string, signal?: AbortSignal, progress = false): RunObserver {
  const bar = new ProgressBar(progress, 'requests');
  return {
    signal,
    phase: (_phase, message) => bar.log(`optibench: [${label}] ${message}`),
    progress: (done, total, repeat, repeats) => bar.update(done, total, repeats > 1 ? `${label}, repeat ${repeat + 1}/${repeats}` : label),
  };
}

export { newRunId };

interface Prepared {
  task: Task;
  plan: Plan;
  batches: TokenRequest[][];
  /** Index of the first batch of each segment (one entry, 0, for an unsegmented run). */
  segmentStarts: number[];
  /** Items (documents computed here) in each segment. */
  segmentItems: number[];
  plugins: LoadedPlugin[];
  modelDir: string;
  modelConfig: Record<string, JsonValue>;
  datasetPath: string;
  datasetSha256: string;
  totalDocs: number;
  /** Items the run scores: the documents planned now plus the carried-over ones. */
  selectedDocs: number;
  carried: ItemResult[];
  /** Answers of requests carried over from the interrupted run, under this plan's request ids. */
  carriedAnswers: TokenAnswer[];
  /** The requests this process computes: the plan's, less the carried ones. */
  computed: readonly TokenRequest[];
  shuffleSeed: number;
  build: BuildSettings;
  session: SessionSettings;
  cacheDir: string;
}

async function prepare(config: RunConfig, observer: RunObserver, options: RunOptions): Promise<Prepared> {
  const cacheDir = config.cacheDir ?? defaultCacheDir();
  const task = getTask(config.task);
  const plugins = options.plugins ? [...options.plugins] : await loadPlugins(config.plugins, config.backend.name);
  const modelDir = config.model ?? (await ensureDefaultModel(cacheDir, (m) => observer.phase?.('prepare', m)));
  const llama = await readLlamaConfig(modelDir);
  const tokenizer = await loadTokenizer(modelDir);
  const datasetPath = config.dataset ?? defaultDatasetPath();
  observer.phase?.('prepare', `reading ${datasetPath}`);
  const allDocs = await task.load(datasetPath);
  const docs = selectDocs(allDocs, selectionOf(config));
  if (docs.length === 0) throw new OptibenchError('the dataset has no items', { file: datasetPath });
  const carried = carriedItems(docs, options.resume);
  const shuffleSeed = options.shuffleSeed === undefined ? randomShuffleSeed() : checkShuffleSeed(options.shuffleSeed);
  const toRun = shuffleItems(options.resume ? docs.filter((doc) => !options.resume!.has(doc.index)) : docs, shuffleSeed);

  const { build, session } = backendSettings(config.backend, plugins, modelInfo(llama));

  const partial = options.resumeRequests ?? [];
  const carriedNote = [carried.length ? `${carried.length} carried over from the interrupted run` : '', partial.length ? `${partial.length} finished requests of unfinished items carried over` : '']
    .filter(Boolean)
    .join('; ');
  observer.phase?.('prepare', `tokenizing ${toRun.length} items${carriedNote ? ` (${carriedNote})` : ''}`);
  const plan = buildPlan(task, toRun, tokenizer, llama.max_position_embeddings);
  const carriedAnswers = carriedRequestAnswers(plan, partial);
  const carriedIds = new Set(carriedAnswers.map((a) => a.id));
  const computed = plan.requests.filter((r) => !carriedIds.has(r.id));
  const { batches, segmentStarts, segmentItems } = segmentedSchedule(plan.docs.length, computed, config.batchSize, plugins, options.segments ?? 1);
  return {
    task,
    plan,
    batches,
    segmentStarts,
    segmentItems,
    plugins,
    modelDir,
    modelConfig: llama as unknown as Record<string, JsonValue>,
    datasetPath,
    datasetSha256: await sha256File(datasetPath),
    totalDocs: allDocs.length,
    selectedDocs: docs.length,
    carried,
    carriedAnswers,
    computed,
    shuffleSeed,
    build,
    session,
    cacheDir,
  };
}

/**
 * The schedule, whole or in segments: segment s holds the documents at positions [s n / S, (s + 1) n / S) of
 * the item order and is scheduled by itself (plugins' schedule hooks see only its requests), so every
 * configuration's segment s covers the same items whatever its plugins do with the batches.
 */
function segmentedSchedule(
  docs: number,
  requests: readonly TokenRequest[],
  batchSize: number,
  plugins: readonly LoadedPlugin[],
  segments: number,
): { batches: TokenRequest[][]; segmentStarts: number[]; segmentItems: number[] } {
  // More segments than items would leave empty turns, paired and counted in the medians as if they were measured.
  if (segments > Math.max(1, docs)) {
    throw new OptibenchError(`${segments} segments for ${docs} item${docs === 1 ? '' : 's'}: each segment needs at least one item (pass --segments ${Math.max(1, docs)} or fewer)`, { key: 'segments' });
  }
  const count = Math.max(1, Math.floor(segments));
  if (count === 1) return { batches: scheduleRequests(requests, batchSize, plugins), segmentStarts: [0], segmentItems: [docs] };
  const bounds = Array.from({ length: count + 1 }, (_, s) => Math.floor((s * docs) / count));
  const segmentOf = new Int32Array(docs);
  for (let s = 0; s < count; s++) segmentOf.fill(s, bounds[s], bounds[s + 1]);
  const bySegment: TokenRequest[][] = Array.from({ length: count }, () => []);
  for (const request of requests) bySegment[segmentOf[request.group]!]!.push(request);
  const batches: TokenRequest[][] = [];
  const segmentStarts: number[] = [];
  for (const part of bySegment) {
    segmentStarts.push(batches.length);
    if (part.length) batches.push(...scheduleRequests(part, batchSize, plugins));
  }
  return { batches, segmentStarts, segmentItems: bounds.slice(1).map((b, s) => b - bounds[s]!) };
}

async function answerAll(
  backend: Backend,
  batches: readonly TokenRequest[][],
  signal: AbortSignal | undefined,
  onBatch: (answer: BatchAnswer, batch: readonly TokenRequest[]) => void,
): Promise<void> {
  for (const batch of batches) onBatch(await answerBatch(backend, batch, signal), batch);
}

async function answerBatch(backend: Backend, batch: readonly TokenRequest[], signal: AbortSignal | undefined): Promise<BatchAnswer> {
  if (signal?.aborted) throw new OptibenchError('interrupted by the user');
  const answer = await backend.loglikelihood(batch);
  const expected = new Set(batch.map((r) => r.id));
  if (answer.answers.length !== batch.length || !answer.answers.every((a) => expected.delete(a.id))) {
    throw new Error(`backend answered ${answer.answers.length} requests for a batch of ${batch.length}, or answered other ids`);
  }
  return answer;
}

export async function runEvaluation(
  config: RunConfig,
  observer: RunObserver = {},
  runId = newRunId(config.task),
  options: RunOptions = {},
): Promise<InferenceResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  observer.phase?.('prepare', 'reading the configuration, plugins, model and dataset');
  const prepared = await prepare(config, observer, options);
  const prepareMs = performance.now() - t0;
  const configHash = inferenceConfigSha256(config, prepared.datasetSha256);
  observer.onPrepared?.({
    runId,
    configSha256: configHash,
    datasetPath: prepared.datasetPath,
    datasetSha256: prepared.datasetSha256,
    totalItems: prepared.selectedDocs,
    shuffleSeed: prepared.shuffleSeed,
    itemOrder: prepared.plan.docs.map((doc) => doc.index),
  });
  const environment = await captureEnvironment();

  const { plan, batches } = prepared;
  const answers = new Map<number, TokenAnswer>(prepared.carriedAnswers.map((a) => [a.id, a]));
  const repeatMs: number[] = [];
  /** Per measured pass, the time spent inside model executions (the backend's probe); the rest is harness. */
  const modelMs: number[] = [];
  /** Per measured pass, each measured batch's time; and each batch's request count (the same every pass). */
  const batchMs: number[][] = [];
  const batchRequests: number[] = [];
  /** Per measured pass, each segment's time (one segment per pass unless the run is segmented). */
  const segmentMs: number[][] = [];
  let inModel = 0;
  let enteredAt = 0;
  const probe = {
    enter: () => void (enteredAt = performance.now()),
    exit: () => void (inModel += performance.now() - enteredAt),
  };
  let repeatMaxAbsDiff = 0;
  /** What the model computed in one pass, as the backend counts it. */
  const work = { positions: 0, paddedPositions: 0 };
  let micro: { [key: string]: JsonValue } | undefined;
  let workerPeakRssBytes: number | null = null;
  let loadMs = 0;
  let warmupMs = 0;
  let loadInfo: LoadInfo | undefined;
  const newBackend = options.createBackend ?? (() => createBackend(config.backend.name));
  const backend = newBackend();
  if (options.profileOperators !== undefined && !backend.operatorProfile) {
    throw new OptibenchError(`operator profiles come from ONNX Runtime's profiler: the ${config.backend.name} backend has none optibench can read (use --backend onnx)`);
  }
  let operatorProfile: OperatorProfileRecord | undefined;
  // Derived from the shuffle seed, so the recorded seed reproduces the whole schedule, canaries included.
  const random = createRandom(prepared.shuffleSeed ^ 0x5bd1e995);
  const canary = options.canary && options.canary.items > 0 ? planCanary(plan, options.canary, config.batchSize, random) : undefined;
  let canaryMaxAbsDiff = 0;
  const reported = new Set<number>();
  /** Documents of `batch` whose every request is now answered, not reported before. */
  const newlyFinished = (batch: readonly TokenRequest[]): ItemResult[] => {
    const items: ItemResult[] = [];
    for (const { group } of batch) {
      if (reported.has(group)) continue;
      const item = itemOf(prepared, group, answers);
      if (!item) continue;
      reported.add(group);
      items.push(item);
    }
    return items;
  };

  const results = (status: InferenceResult['status'], error?: string): InferenceResult =>
    assembleResults({
      config, configSha256: configHash, runId, startedAt, status, error, prepared, environment, loadInfo, answers, work, micro, operatorProfile, workerPeakRssBytes, repeatMs, modelMs, batchMs, batchRequests, segmentMs, repeatMaxAbsDiff, prepareMs, loadMs, warmupMs, totalMs: performance.now() - t0,
      canary: canary && options.canary ? { items: canary.items, requests: canary.requests, tolerance: options.canary.tolerance, maxAbsDiff: canaryMaxAbsDiff } : undefined,
      subject: options.subject,
    });

  try {
    observer.phase?.('load', `loading ${prepared.modelDir} on ${config.backend.name}`);
    let t = performance.now();
    loadInfo = await backend.load({
      probe,
      modelDir: prepared.modelDir,
      build: prepared.build,
      session: prepared.session,
      cacheDir: prepared.cacheDir,
      onProgress: (m) => observer.phase?.('load', m),
    });
    loadMs = performance.now() - t;

    const warmup = batches.slice(0, config.warmupBatches);
    if (warmup.length) {
      observer.phase?.('warmup', `warming up on ${warmup.length} batch${warmup.length > 1 ? 'es' : ''}`);
      t = performance.now();
      await answerAll(backend, warmup, observer.signal, () => {});
      warmupMs = performance.now() - t;
    }

    const total = prepared.computed.length;
    // Nothing left to compute (a resumed run whose items were all carried over): nothing to measure either.
    const starts = prepared.segmentStarts;
    for (let repeat = 0; repeat < (total > 0 ? config.repeats : 0); repeat++) {
      // Canary batches and the observer's item writes are not the run's work: their time is taken out.
      let excludedMs = 0;
      let excludedModelMs = 0;
      const canaryAnswers: TokenAnswer[] = [];
      const schedule = withCanaryBatches(batches, canary, random);
      const passBatchMs: number[] = [];
      const passSegmentMs: number[] = [];
      // A turn is one segment of one pass; the time between turns (another configuration's) is not this pass's.
      let segment = -1;
      let segmentT = 0;
      let segmentExcluded = 0;
      const openSegment = async (s: number) => {
        await options.pacer?.beforeTurn(repeat * starts.length + s);
        segment = s;
        segmentExcluded = excludedMs;
        segmentT = performance.now();
      };
      const closeSegment = () => {
        passSegmentMs.push(performance.now() - segmentT - (excludedMs - segmentExcluded));
        options.pacer?.afterTurn(repeat * starts.length + segment, passSegmentMs.at(-1)!);
      };
      await openSegment(0);
      observer.phase?.('inference', config.repeats > 1 ? `measuring, repeat ${repeat + 1} of ${config.repeats}` : 'measuring');
      let done = 0;
      observer.progress?.(0, total, repeat, config.repeats);
      inModel = 0;
      batchMs.push(passBatchMs);
      let measuredBatches = 0;
      for (const { batch, canary: isCanary } of schedule) {
        if (isCanary) {
          const [c0, m0] = [performance.now(), inModel];
          canaryAnswers.push(...(await answerBatch(backend, batch, observer.signal)).answers);
          excludedMs += performance.now() - c0;
          excludedModelMs += inModel - m0;
          continue;
        }
        while (segment + 1 < starts.length && measuredBatches >= starts[segment + 1]!) {
          closeSegment();
          await openSegment(segment + 1);
        }
        measuredBatches++;
        const b0 = performance.now();
        const batchAnswer = await answerBatch(backend, batch, observer.signal);
        passBatchMs.push(performance.now() - b0);
        if (repeat === 0) batchRequests.push(batch.length);
        for (const answer of batchAnswer.answers) {
          const first = answers.get(answer.id);
          if (!first) answers.set(answer.id, answer);
          else repeatMaxAbsDiff = Math.max(repeatMaxAbsDiff, Math.abs(first.logprob - answer.logprob));
        }
        if (repeat === 0) {
          work.positions += batchAnswer.positions;
          work.paddedPositions += batchAnswer.paddedPositions;
          if (observer.onItems) {
            const c0 = performance.now();
            const finished = newlyFinished(batch);
            if (finished.length) observer.onItems(finished);
            excludedMs += performance.now() - c0;
          }
        }
        done += batchAnswer.answers.length;
        observer.progress?.(done, total, repeat, config.repeats);
      }
      // Segments left with no batches (every item carried over by a resume) still take their turn.
      while (segment + 1 < starts.length) {
        closeSegment();
        await openSegment(segment + 1);
      }
      closeSegment();
      segmentMs.push(passSegmentMs);
      repeatMs.push(passSegmentMs.reduce((a, b) => a + b, 0));
      modelMs.push(inModel - excludedModelMs);
      if (canary) canaryMaxAbsDiff = Math.max(canaryMaxAbsDiff, checkCanary(canary, canaryAnswers, answers, options.canary!.tolerance));
    }
    await options.pacer?.beforeFinish();
    if (observer.afterInference) {
      observer.phase?.('inference', 'micro-benchmarks');
      micro = await observer.afterInference({ backend, batches });
    }
    // A worker's memory is not optibench's: asked once the passes are done, before it closes.
    if (backend.peakRssBytes) workerPeakRssBytes = await backend.peakRssBytes();
  } catch (error) {
    const message = error instanceof OptibenchError ? error.oneLine() : error instanceof Error ? error.message : String(error);
    throw new RunFailure(results('incomplete', message), error);
  } finally {
    await backend.close();
  }
  if (options.profileOperators !== undefined && repeatMs.length > 0) {
    observer.phase?.('profile', `profiling ${Math.min(options.profileOperators, batches.length)} batches operator by operator (a second session, after the measured passes)`);
    try {
      operatorProfile = await profileOperators({
        createBackend: newBackend,
        load: { modelDir: prepared.modelDir, build: prepared.build, session: prepared.session, cacheDir: prepared.cacheDir },
        batches,
        warmupBatches: config.warmupBatches,
        count: options.profileOperators,
        signal: observer.signal,
      });
    } catch (error) {
      const message = error instanceof OptibenchError ? error.oneLine() : error instanceof Error ? error.message : String(error);
      throw new RunFailure(results('incomplete', `the operator profile failed after the measured passes: ${message}`), error);
    }
  }
  return results('complete');
}

interface AssembleInput {
  config: RunConfig;
  configSha256: string;
  canary: InferencePayload['canary'];
  subject: RunOptions['subject'];
  runId: string;
  startedAt: Date;
  status: InferenceResult['status'];
  error: string | undefined;
  prepared: Prepared;
  environment: Environment;
  loadInfo: LoadInfo | undefined;
  answers: ReadonlyMap<number, TokenAnswer>;
  work: { positions: number; paddedPositions: number };
  micro: { [key: string]: JsonValue } | undefined;
  operatorProfile: OperatorProfileRecord | undefined;
  workerPeakRssBytes: number | null;
  repeatMs: number[];
  modelMs: number[];
  batchMs: number[][];
  batchRequests: number[];
  segmentMs: number[][];
  repeatMaxAbsDiff: number;
  prepareMs: number;
  loadMs: number;
  warmupMs: number;
  totalMs: number;
}

function itemOf(prepared: Prepared, position: number, answers: ReadonlyMap<number, TokenAnswer>): ItemResult | undefined {
  return scoredItem(prepared.task, prepared.plan, position, answers);
}

/**
 * The items an interrupted run already finished, checked against the documents this run selects: the same
 * config on the same dataset selects them all, with the same labels and number of endings.
 */
function carriedItems(docs: readonly MultipleChoiceDoc[], resume: ReadonlyMap<number, ItemResult> | undefined): ItemResult[] {
  if (!resume || resume.size === 0) return [];
  const byIndex = new Map(docs.map((doc) => [doc.index, doc]));
  for (const item of resume.values()) {
    const doc = byIndex.get(item.index);
    if (!doc) throw new OptibenchError(`cannot resume: item ${item.index} of the interrupted run is not among the items this config selects`);
    if (doc.gold !== item.gold || doc.choices.length !== item.loglikelihoods.length) {
      throw new OptibenchError(`cannot resume: item ${item.index} of the interrupted run does not match the dataset's item ${item.index} (label or endings differ)`);
    }
  }
  return [...resume.values()];
}

/**
 * The interrupted run's answered requests, under this plan's ids: each must name a document this run computes
 * and one of its endings.
 */
function carriedRequestAnswers(plan: Plan, carried: readonly CarriedRequest[]): TokenAnswer[] {
  if (carried.length === 0) return [];
  const positionOf = new Map(plan.docs.map((doc, position) => [doc.index, position]));
  return carried.map((request) => {
    const position = positionOf.get(request.index);
    if (position === undefined) throw new OptibenchError(`cannot resume: a finished request of item ${request.index} names an item this run does not compute`);
    const id = plan.requestsByDoc[position]![request.ending];
    if (id === undefined) throw new OptibenchError(`cannot resume: a finished request names ending ${request.ending} of item ${request.index}, which has ${plan.requestsByDoc[position]!.length}`);
    return { id, logprob: request.logprob, isGreedy: request.isGreedy };
  });
}

/** Answered requests of the documents that did not finish, for the incomplete file. */
function partialRequests(plan: Plan, answers: ReadonlyMap<number, TokenAnswer>): CarriedRequest[] {
  const partial: CarriedRequest[] = [];
  plan.docs.forEach((doc, position) => {
    const ids = plan.requestsByDoc[position]!;
    const answered = ids.map((id) => answers.get(id));
    if (answered.every((a) => a !== undefined)) return;
    answered.forEach((a, ending) => {
      if (a) partial.push({ index: doc.index, ending, logprob: a.logprob, isGreedy: a.isGreedy });
    });
  });
  return partial;
}

/** Scores every document whose requests were all answered, merges carried-over items, and assembles the results file. */
function assembleResults(input: AssembleInput): InferenceResult {
  const { prepared, answers } = input;
  const { task, plan } = prepared;
  const computed = plan.docs.map((_, position) => itemOf(prepared, position, answers)).filter((item) => item !== undefined);
  // Dataset order, whatever order the items ran in: results of the same items compare item by item.
  const items = [...computed, ...prepared.carried].sort((a, b) => a.index - b.index);
  const outcomes: DocOutcome[] = items.map((item) => task.score({ gold: item.gold, choiceChars: item.choiceChars, loglikelihoods: item.loglikelihoods }));
  const metrics = outcomes.length ? task.aggregate(outcomes) : {};
  const inference = repeatStats(input.repeatMs);
  // lm-evaluation-harness runs every request as its own sequence: the count every speed-up is measured against.
  // Over the requests this process computed: carried-over ones took no time here.
  const pairwiseTokens = prepared.computed.reduce((sum, r) => sum + positionsOf(r), 0);
  const seconds = inference.medianMs === null ? null : inference.medianMs / 1000;
  const c = input.config;
  const resumed = prepared.carried.length > 0 || prepared.carriedAnswers.length > 0;
  const partial = input.status === 'incomplete' ? partialRequests(plan, answers) : [];
  return {
    schema: RESULT_SCHEMA_ID,
    version: RESULT_VERSION,
    evaluator: { id: INFERENCE_EVALUATOR_ID, version: INFERENCE_EVALUATOR_VERSION },
    runId: input.runId,
    createdAt: input.startedAt.toISOString(),
    status: input.status,
    ...(input.error === undefined ? {} : { error: input.error }),
    subject: { configSha256: input.configSha256, team: input.subject?.team ?? null, commit: input.subject?.commit ?? null },
    config: c as unknown as JsonObject,
    environment: input.environment,
    plugins: prepared.plugins.map((p) => ({
      name: p.definition.name,
      version: p.definition.version,
      source: p.source,
      options: (p.options ?? null) as JsonValue,
      facts: p.hooks.describe?.() ?? {},
    })),
    timings: {
      prepareMs: input.prepareMs,
      loadMs: input.loadMs,
      warmupMs: input.warmupMs,
      inference,
      modelExecution: repeatStats(input.modelMs),
      harnessOverhead: harnessOverhead(input.repeatMs, input.modelMs),
      batches: batchTimings(input.batchMs, input.batchRequests, input.repeatMs.length),
      ...(prepared.segmentStarts.length > 1
        ? { segments: { count: prepared.segmentStarts.length, items: prepared.segmentItems, passesMs: input.segmentMs } }
        : {}),
      totalMs: input.totalMs,
    },
    metrics,
    headline: inferenceHeadline(inference.medianMs, resumed),
    verdict: null,
    payload: {
      task: {
        name: task.name,
        version: task.version,
        dataset: {
          path: prepared.datasetPath,
          sha256: prepared.datasetSha256,
          totalDocs: prepared.totalDocs,
          selectedDocs: prepared.selectedDocs,
          limit: c.limit,
          seed: c.seed,
          selection: selectionRecord(selectionOf(c)),
        },
      },
      model: {
        dir: prepared.modelDir,
        weightsSha256: String(input.loadInfo?.details.weightsSha256 ?? ''),
        config: prepared.modelConfig,
      },
      backend: {
        name: c.backend.name,
        build: prepared.build as unknown as JsonObject,
        session: prepared.session as unknown as JsonObject,
        load: input.loadInfo
          ? { maxLength: input.loadInfo.maxLength, vocabSize: input.loadInfo.vocabSize, cacheHit: input.loadInfo.cacheHit, ...input.loadInfo.details }
          : {},
      },
      throughput: {
        requests: prepared.computed.length,
        batches: prepared.batches.length,
        tokensThroughModel: input.work.positions,
        paddedTokens: input.work.paddedPositions,
        pairwiseTokens,
        itemsPerSecond: seconds ? plan.docs.length / seconds : 0,
        tokensPerSecond: seconds ? input.work.positions / seconds : 0,
        pairwiseTokensPerSecond: seconds ? pairwiseTokens / seconds : 0,
      },
      peakRssBytes: peakRssBytes(),
      ...(input.workerPeakRssBytes === null ? {} : { workerPeakRssBytes: input.workerPeakRssBytes }),
      repeatMaxAbsDiff: input.repeatMaxAbsDiff,
      shuffleSeed: prepared.shuffleSeed,
      ...(input.canary ? { canary: input.canary } : {}),
      ...(resumed
        ? {
            resumed: {
              itemsCarriedOver: prepared.carried.length,
              itemsRun: plan.docs.length,
              ...(prepared.carriedAnswers.length ? { requestsCarriedOver: prepared.carriedAnswers.length } : {}),
            },
          }
        : {}),
      ...(partial.length ? { partialRequests: partial } : {}),
      ...(input.micro ? { micro: input.micro } : {}),
      ...(input.operatorProfile ? { operatorProfile: { ...input.operatorProfile, kernels: [...input.operatorProfile.kernels] } } : {}),
      primaryMetric: task.headlineMetric,
      items,
    },
  };
}

/**
 * The measured passes' batch times. A pass cut short by an error is left out, as its time is: the
 * distribution describes the same passes the headline does.
 */
function batchTimings(batchMs: readonly number[][], requests: readonly number[], finishedPasses: number): NonNullable<InferenceTimings['batches']> {
  const passes = batchMs.slice(0, finishedPasses).map((pass) => [...pass]);
  return { requests: finishedPasses > 0 ? [...requests] : [], passesMs: passes, latency: latencySummary(passes.flat()) };
}

/**
 * The median over measured passes of the share of a pass spent outside model executions (packing batches,
 * unpacking and summing answers, scheduling): what the harness costs on top of the model. Null when no pass
 * finished.
 */
function harnessOverhead(repeatMs: readonly number[], modelMs: readonly number[]): number | null {
  const shares = repeatMs.map((ms, i) => (ms > 0 ? Math.max(0, ms - (modelMs[i] ?? 0)) / ms : 0));
  return shares.length ? median(shares) : null;
}
