/**
 * One measured session with a SUT, on the organizer's clock: hello, load, a warm-up, N measured passes,
 * close. Pass 1 is scored and ranked: it is the one pass whose every request is new to the SUT, so
 * remembering answers across passes cannot buy rank. Later passes must agree with pass 1 and must not come
 * back much faster (a SUT that remembers answers by content is caught: MLPerf's TEST04 idea); the tolerances
 * are loose enough for batch-dependent rounding (quantized kernels) and a shared machine's noise, since the
 * ranked figure does not depend on them.
 */
import type { TokenAnswer } from '../../../core/backend.js';
import type { JsonObject } from '../../../core/json.js';
import { createRandom } from '../../../core/random.js';
import { SutClient, SutFailure, type PassAnswers } from './client.js';
import { measuredPass, warmupPass, type PassSource } from './passes.js';
import type { Hello } from './protocol.js';

export interface SessionOptions {
  readonly modelDir: string;
  readonly cacheDir: string;
  readonly vocabSize: number;
  /** Measured passes (>= 1; the re-issue check needs 2). */
  readonly passes: number;
  /** Documents' worth of random-token requests in the warm-up (0: none). */
  readonly warmupItems: number;
  /** Seeds every order, permutation and warm-up token of the session; recorded with the results. */
  readonly seed: number;
  /**
   * Largest difference allowed between a request's log-prob in a later pass and in pass 1, in nats per
   * continuation token: a request's sum over n tokens may differ by n times this. Passes batch the same
   * requests differently, and kernels (quantized ones, fp16) are not exactly batch-invariant.
   */
  readonly agreementTolerance: number;
  /** Share by which a later pass may be faster than pass 1 ... */
  readonly reissueTolerance: number;
  /** ... and by how much in absolute time, below which differences are a shared machine's noise. */
  readonly reissueFloorMs: number;
  readonly helloSeconds: number;
  readonly onPhase?: (message: string) => void;
  readonly onProgress?: (answered: number, total: number, pass: number) => void;
}

export const SESSION_DEFAULTS = {
  passes: 2,
  warmupItems: 32,
  agreementTolerance: 0.05,
  reissueTolerance: 0.5,
  reissueFloorMs: 1000,
  helloSeconds: 60,
} as const;

export interface SutMeasurement {
  readonly hello: Hello;
  readonly loadedAbout: JsonObject;
  readonly loadMs: number;
  readonly warmupMs: number;
  readonly warmupRequests: number;
  /** Each measured pass's time and the harness's own share of it. */
  readonly passMs: number[];
  readonly harnessMs: number[];
  /** Pass 1's answers by plan request id: what is scored. */
  readonly answers: Map<number, TokenAnswer>;
  /** Largest |later pass - pass 1| over every request (0 with one pass). */
  readonly agreementMaxAbsDiff: number;
  /** The same per continuation token: what the tolerance bounds. */
  readonly agreementMaxPerToken: number;
  /** Fastest later pass over pass 1 (null with one pass). */
  readonly reissueRatio: number | null;
}

/** The session stopped: `reason` says why, `measured` holds what was measured before. */
export class SessionFailure extends Error {
  constructor(
    readonly reason: string,
    readonly measured: Partial<SutMeasurement>,
  ) {
    super(reason);
    this.name = 'SessionFailure';
  }
}

function byPlanId(pass: PassAnswers, planIdOf: Int32Array): Map<number, TokenAnswer> {
  const answers = new Map<number, TokenAnswer>();
  for (let id = 0; id < planIdOf.length; id++) {
    const planId = planIdOf[id]!;
    answers.set(planId, { id: planId, logprob: pass.logprob[id]!, isGreedy: pass.greedy[id] === 1 });
  }
  return answers;
}

export async function measureSut(client: SutClient, source: PassSource, options: SessionOptions): Promise<SutMeasurement> {
  const measured: { -readonly [K in keyof SutMeasurement]?: SutMeasurement[K] } = { passMs: [], harnessMs: [] };
  const random = createRandom(options.seed);
  const say = options.onPhase ?? (() => {});
  const total = source.requests.length;
  try {
    say('waiting for the SUT\'s hello');
    measured.hello = await client.hello(options.helloSeconds * 1000);
    say(`the SUT "${measured.hello.name}" said hello; loading ${options.modelDir}`);
    const loaded = await client.load(options.modelDir, options.cacheDir);
    measured.loadMs = loaded.ms;
    measured.loadedAbout = loaded.about;

    const warmup = warmupPass(source, options.warmupItems, options.vocabSize, random);
    measured.warmupRequests = warmup.count;
    measured.warmupMs = 0;
    if (warmup.count > 0) {
      say(`warming up on ${warmup.count} requests of random tokens`);
      measured.warmupMs = (await client.pass(0, warmup.line, warmup.count)).ms;
    }

    let first: Map<number, TokenAnswer> | undefined;
    let maxDiff = 0;
    let maxPerToken = 0;
    for (let pass = 1; pass <= options.passes; pass++) {
      const built = measuredPass(source, pass, random);
      say(`measured pass ${pass} of ${options.passes}: ${total} requests`);
      const answers = await client.pass(pass, built.line, built.count, (done) => options.onProgress?.(done, total, pass));
      measured.passMs!.push(answers.ms);
      measured.harnessMs!.push(answers.harnessMs);
      const byPlan = byPlanId(answers, built.planIdOf);
      if (!first) {
        first = byPlan;
        measured.answers = first;
        continue;
      }
      for (const [planId, answer] of byPlan) {
        const diff = Math.abs(answer.logprob - first.get(planId)!.logprob);
        const perToken = diff / Math.max(1, source.requests[planId]!.continuation.length);
        if (diff > maxDiff) maxDiff = diff;
        if (perToken > maxPerToken) maxPerToken = perToken;
        if (perToken > options.agreementTolerance) {
          measured.agreementMaxAbsDiff = maxDiff;
          measured.agreementMaxPerToken = maxPerToken;
          throw new SessionFailure(
            `pass ${pass} disagrees with pass 1: request ${planId} (${source.requests[planId]!.continuation.length} continuation tokens) got ${answer.logprob} there and ${first.get(planId)!.logprob} in pass 1 ` +
              `(more than the ${options.agreementTolerance} nats per token allowed): the timed answers must be the scored ones`,
            measured,
          );
        }
      }
      measured.agreementMaxAbsDiff = maxDiff;
      measured.agreementMaxPerToken = maxPerToken;
    }
    measured.agreementMaxAbsDiff = maxDiff;
    measured.agreementMaxPerToken = maxPerToken;
    const reissue = reissueCheck(measured.passMs!, options);
    measured.reissueRatio = reissue.ratio;
    if (reissue.failure) throw new SessionFailure(reissue.failure, measured);
    say('closing the SUT');
    await client.close(10_000);
    return measured as SutMeasurement;
  } catch (error) {
    if (error instanceof SutFailure) throw new SessionFailure(error.message, measured);
    throw error;
  }
}

/** The fastest later pass over pass 1, and why that is too fast to be inference, if it is. */
function reissueCheck(passMs: readonly number[], options: SessionOptions): { ratio: number | null; failure?: string } {
  if (passMs.length < 2) return { ratio: null };
  const [first, ...later] = passMs as [number, ...number[]];
  const fastest = Math.min(...later);
  const ratio = fastest / first;
  if (ratio < 1 - options.reissueTolerance && first - fastest > options.reissueFloorMs) {
    const pass = later.indexOf(fastest) + 2;
    return {
      ratio,
      failure:
        `re-issued requests came back faster than their first issue: pass ${pass} took ${(fastest / 1000).toFixed(2)} s, pass 1 ${(first / 1000).toFixed(2)} s ` +
        `(${Math.round((1 - ratio) * 100)} % faster; at most ${Math.round(options.reissueTolerance * 100)} % and ${options.reissueFloorMs / 1000} s allowed): ` +
        'a SUT that remembers answers is not measuring inference',
    };
  }
  return { ratio };
}
