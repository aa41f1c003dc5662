/**
 * The canary check (anti-cheat). A few documents are issued again during every measured pass, in batches of
 * their own at random places in the schedule: the same request ids and context, but each id now carries
 * another ending (a rotation, so no ending keeps its id). A backend that computes what it is given answers
 * every ending as it did the first time; one that answers from a cache keyed by request id, by an ending's
 * position or by a batch position returns the old ending's number and is caught. Canary batches are timed
 * apart from the headline and never scored.
 */
import type { TokenAnswer, TokenRequest } from '../../core/backend.js';
import { OptibenchError } from '../../core/errors.js';
import type { Plan } from './plan.js';

export interface CanaryOptions {
  /** Documents to re-issue per measured pass (fewer if the run has fewer). */
  readonly items: number;
  /** Largest allowed difference between a canary answer and the first answer of the same ending. */
  readonly tolerance: number;
}

export const DEFAULT_CANARY_TOLERANCE = 1e-4;

export interface CanaryPlan {
  readonly batches: readonly (readonly TokenRequest[])[];
  /** For each canary request id, the id of the request whose tokens it carries. */
  readonly sourceOf: ReadonlyMap<number, number>;
  /** Dataset index of each canary request's document, for error messages. */
  readonly docIndexOf: ReadonlyMap<number, number>;
  readonly items: number;
  readonly requests: number;
}

export function planCanary(plan: Plan, options: CanaryOptions, batchSize: number, random: () => number): CanaryPlan {
  const candidates = plan.docs.map((_, position) => position).filter((position) => plan.requestsByDoc[position]!.length >= 2);
  // A partial Fisher-Yates draw: `items` distinct documents.
  const chosen: number[] = [];
  for (let i = 0; i < Math.min(options.items, candidates.length); i++) {
    const j = i + Math.floor(random() * (candidates.length - i));
    [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
    chosen.push(candidates[i]!);
  }
  const batches: TokenRequest[][] = [];
  const sourceOf = new Map<number, number>();
  const docIndexOf = new Map<number, number>();
  for (const position of chosen) {
    const ids = plan.requestsByDoc[position]!;
    const shift = 1 + Math.floor(random() * (ids.length - 1));
    const requests = ids.map((id, slot) => {
      const source = plan.requests[ids[(slot + shift) % ids.length]!]!;
      sourceOf.set(id, source.id);
      docIndexOf.set(id, plan.docs[position]!.index);
      return { id, group: position, context: source.context, continuation: source.continuation };
    });
    for (let i = 0; i < requests.length; i += batchSize) batches.push(requests.slice(i, i + batchSize));
  }
  return { batches, sourceOf, docIndexOf, items: chosen.length, requests: sourceOf.size };
}

/** The measured schedule with the canary batches put at random places; `canary` marks them. */
export function withCanaryBatches(
  batches: readonly (readonly TokenRequest[])[],
  canary: CanaryPlan | undefined,
  random: () => number,
): { batch: readonly TokenRequest[]; canary: boolean }[] {
  const schedule = batches.map((batch) => ({ batch, canary: false }));
  for (const batch of canary?.batches ?? []) schedule.splice(Math.floor(random() * (schedule.length + 1)), 0, { batch, canary: true });
  return schedule;
}

/**
 * Compares a pass's canary answers with the first answers of the endings they carried; throws on the first
 * mismatch beyond the tolerance. Returns the largest difference seen.
 */
export function checkCanary(canary: CanaryPlan, canaryAnswers: readonly TokenAnswer[], firstAnswers: ReadonlyMap<number, TokenAnswer>, tolerance: number): number {
  let maxAbsDiff = 0;
  for (const answer of canaryAnswers) {
    const source = canary.sourceOf.get(answer.id)!;
    const first = firstAnswers.get(source);
    if (!first) continue;
    const difference = Math.abs(answer.logprob - first.logprob);
    // NaN compares false with everything: a NaN answer must fail too.
    if (!(difference <= tolerance)) {
      throw new OptibenchError(
        `canary check failed: item ${canary.docIndexOf.get(answer.id)} was issued again with its endings in another order, and request ${answer.id} ` +
          `(now carrying the ending of request ${source}) got log-likelihood ${answer.logprob}, where that ending first got ${first.logprob} ` +
          `(difference ${difference} > tolerance ${tolerance}): the backend answered from something other than the tokens it was given`,
      );
    }
    maxAbsDiff = Math.max(maxAbsDiff, difference);
  }
  return maxAbsDiff;
}
