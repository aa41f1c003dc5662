/**
 * The challenge rule as a verdict: a run passes when its raw score reaches `score_to_beat`: the current top's
 * raw score plus the margin (1%), or the baseline's plus the margin when there is no winner yet. Both `optibench
 * evaluate compression --db` and `optibench compression run --db` look the current top up in the store
 * (`currentTop`, the evaluator's `judgeRules`) and pass it as `rules.top`.
 */
import { OptibenchError } from '../../core/errors.js';
import { standingsSpec, type AnyEvaluator } from '../../core/evaluator.js';
import type { Verdict } from '../../core/result.js';
import type { ResultsStore } from '../../core/store.js';
import type { CompressionResult } from './results.js';
import { scoreToBeat } from './scoring.js';

export interface ChallengeRules {
  /** The current top of the board (another team's ranked run), or null when there is no winner yet. */
  readonly top: { readonly runId: string; readonly score: number; readonly team: string } | null;
}

const fmt = (x: number) => String(Number(x.toPrecision(10)));

export function judgeChallenge(candidate: CompressionResult, reference: CompressionResult, rules?: ChallengeRules): Verdict {
  if (candidate.payload.profile.name !== reference.payload.profile.name) {
    throw new OptibenchError(`the baseline ${reference.runId} was scored with the ${reference.payload.profile.name} profile, this run with ${candidate.payload.profile.name}`);
  }
  const margin = candidate.payload.challengeMargin;
  const top = rules?.top ?? null;
  const beat = scoreToBeat(top?.score ?? null, reference.headline.value, margin);
  const mine = candidate.headline.value;
  const against = top ? `${Math.round(margin * 1000) / 10}% above the current top's ${fmt(top.score)} (${top.team}, run ${top.runId})` : `${Math.round(margin * 1000) / 10}% above the baseline's ${reference.headline.value === null ? 'none' : fmt(reference.headline.value)}`;
  if (mine === null) return { passed: false, reason: 'FAIL: the run has no raw score', referenceRunId: top?.runId ?? reference.runId };
  const passed = beat === null || mine >= beat;
  return {
    passed,
    reason: `${passed ? 'PASS' : 'FAIL'}: raw score ${fmt(mine)} against score_to_beat ${beat === null ? 'none' : fmt(beat)} (${against})`,
    referenceRunId: top?.runId ?? reference.runId,
  };
}

/**
 * The current top of the board, another team's, scored with the same profile (a lossless score and a default one
 * are not comparable): what a new entry must beat by the margin.
 */
export function currentTop(store: ResultsStore, evaluator: AnyEvaluator, teamRowId: number | null, profile: string): ChallengeRules['top'] {
  const rows = store
    .standings(standingsSpec(evaluator))
    .filter((r) => r.teamId !== teamRowId && r.state === 'judged' && (r.verdict === null || r.verdict.passed) && r.score !== null && r.runId !== null)
    .filter((r) => (store.readRun(r.runId!)?.config.profile ?? 'default') === profile);
  const top = rows.reduce<(typeof rows)[number] | null>((best, r) => (best === null || r.score! > best.score! ? r : best), null);
  return top ? { runId: top.runId!, score: top.score!, team: top.team } : null;
}
