/**
 * The challenge rule as a verdict: a run passes when its raw score reaches `score_to_beat`: the current top's
 * raw score plus the margin (1%), or the baseline's plus the margin when there is no winner yet. `optibench
 * evaluate` judges against the baseline alone (the contract gives it nothing else); `optibench compression run
 * --db` also looks up the current top in the store and passes it as `rules.top`.
 */
import { OptibenchError } from '../../core/errors.js';
import type { Verdict } from '../../core/result.js';
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
