/**
 * A SUT session's results: pass 1's answers scored with the real labels, the times the harness measured,
 * and what the SUT reported about itself kept apart, as reported.
 */
import type { Environment } from '../../../core/environment.js';
import type { JsonObject } from '../../../core/json.js';
import { RESULT_SCHEMA_ID, RESULT_VERSION, type Subject } from '../../../core/result.js';
import type { Task } from '../../../core/task.js';
import { median, repeatStats } from '../../../core/timing.js';
import { peakRssBytes } from '../../../core/environment.js';
import { INFERENCE_EVALUATOR_ID, INFERENCE_EVALUATOR_VERSION } from '../hooks.js';
import { positionsOf, type Plan } from '../plan.js';
import { inferenceHeadline, type InferencePayload, type InferenceResult } from '../results.js';
import { scoredItem } from '../scored-item.js';
import type { SessionOptions, SutMeasurement } from './session.js';
import { SUT_PROTOCOL_VERSION } from './protocol.js';

export interface SutRunFacts {
  readonly runId: string;
  readonly startedAt: Date;
  /** What the organizer ran (the re-run's own config), stored as the results' config. */
  readonly config: JsonObject;
  readonly subject: Subject;
  readonly environment: Environment;
  readonly task: Task;
  readonly plan: Plan;
  readonly dataset: InferencePayload['task']['dataset'];
  readonly model: InferencePayload['model'];
  readonly form: 'config' | 'command';
  readonly session: SessionOptions;
  readonly measurement: SutMeasurement;
  readonly prepareMs: number;
  readonly totalMs: number;
}

export function sutResults(facts: SutRunFacts): InferenceResult {
  const { task, plan, measurement: m } = facts;
  const items = plan.docs.map((_, position) => scoredItem(task, plan, position, m.answers)).filter((item) => item !== undefined);
  items.sort((a, b) => a.index - b.index);
  const metrics = task.aggregate(items.map((item) => task.score({ gold: item.gold, choiceChars: item.choiceChars, loglikelihoods: item.loglikelihoods })));
  const inference = repeatStats(m.passMs);
  const pairwiseTokens = plan.requests.reduce((sum, r) => sum + positionsOf(r), 0);
  const seconds = inference.medianMs === null ? null : inference.medianMs / 1000;
  const harnessShare = m.passMs.length ? median(m.passMs.map((ms, i) => (ms > 0 ? m.harnessMs[i]! / ms : 0))) : null;
  return {
    schema: RESULT_SCHEMA_ID,
    version: RESULT_VERSION,
    evaluator: { id: INFERENCE_EVALUATOR_ID, version: INFERENCE_EVALUATOR_VERSION },
    runId: facts.runId,
    createdAt: facts.startedAt.toISOString(),
    status: 'complete',
    subject: facts.subject,
    config: facts.config,
    environment: facts.environment,
    // What the SUT says it runs is in payload.sut.reported; nothing here is taken from it.
    plugins: [],
    timings: {
      prepareMs: facts.prepareMs,
      loadMs: m.loadMs,
      warmupMs: m.warmupMs,
      inference,
      harnessOverhead: harnessShare,
      totalMs: facts.totalMs,
    },
    metrics,
    // Pass 1 ranks: the one pass whose every request is new to the SUT, and the one scored.
    headline: inferenceHeadline(m.passMs[0] ?? null, false), // = rankedInferenceMs of these results
    verdict: null,
    payload: {
      task: { name: task.name, version: task.version, dataset: facts.dataset },
      model: facts.model,
      backend: { name: 'sut', build: {}, session: {}, load: {} },
      throughput: {
        requests: plan.requests.length,
        // How a SUT batches and what it computes are its own affair: the requested tokens stand for its work.
        batches: 0,
        tokensThroughModel: pairwiseTokens,
        paddedTokens: pairwiseTokens,
        pairwiseTokens,
        itemsPerSecond: seconds ? plan.docs.length / seconds : 0,
        tokensPerSecond: seconds ? pairwiseTokens / seconds : 0,
        pairwiseTokensPerSecond: seconds ? pairwiseTokens / seconds : 0,
      },
      peakRssBytes: peakRssBytes(),
      repeatMaxAbsDiff: m.agreementMaxAbsDiff,
      shuffleSeed: facts.session.seed,
      sut: {
        protocol: SUT_PROTOCOL_VERSION,
        name: m.hello.name,
        form: facts.form,
        timedBy: 'organizer',
        seed: facts.session.seed,
        passes: m.passMs.length,
        warmupRequests: m.warmupRequests,
        harnessShare,
        agreement: { maxAbsDiff: m.agreementMaxAbsDiff, maxPerToken: m.agreementMaxPerToken, tolerance: facts.session.agreementTolerance },
        reissue: { ratio: m.reissueRatio, tolerance: facts.session.reissueTolerance, floorMs: facts.session.reissueFloorMs },
        reported: { hello: m.hello.about ?? {}, loaded: m.loadedAbout },
      },
      primaryMetric: task.headlineMetric,
      items,
    },
  };
}
