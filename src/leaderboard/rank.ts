/**
 * Places standings on the board. Only teams whose re-run passed the accuracy gate are ranked, by median
 * inference time; equal times share a rank (1, 2, 2, 4), and a tie at the cut line takes every tied team on:
 * splitting a tie would rank on something the competition does not measure.
 */
import type { TeamStanding } from '../evaluators/inference/board/query.js';

export interface RankedStanding extends TeamStanding {
  readonly rank: number;
  /** Ranked at or above the cut: goes on to the next round. */
  readonly advances: boolean;
}

export interface Board {
  readonly ranked: readonly RankedStanding[];
  readonly gateFailed: readonly TeamStanding[];
  /** Complete re-runs not placed yet (see `note`), then pending ones, oldest submission first. */
  readonly pending: readonly TeamStanding[];
  readonly failed: readonly TeamStanding[];
  readonly top: number;
}

const byTeamName = (a: TeamStanding, b: TeamStanding) => (a.team < b.team ? -1 : a.team > b.team ? 1 : a.teamId - b.teamId);
const bySubmission = (a: TeamStanding, b: TeamStanding) => Date.parse(a.submittedAt) - Date.parse(b.submittedAt) || byTeamName(a, b);
/** Faster first; within a tie, the earlier submission first (it got there first), then by name. */
const byTime = (a: TeamStanding, b: TeamStanding) => a.inferenceMs! - b.inferenceMs! || bySubmission(a, b);

export function rankStandings(standings: readonly TeamStanding[], top: number): Board {
  const judged = standings.filter((s) => s.state === 'judged');
  const passing = judged.filter((s) => s.gate!.passed).sort(byTime);
  const ranked: RankedStanding[] = [];
  passing.forEach((s, i) => {
    const previous = ranked[i - 1];
    const rank = previous && previous.inferenceMs === s.inferenceMs ? previous.rank : i + 1;
    ranked.push({ ...s, rank, advances: rank <= top });
  });
  return {
    ranked,
    gateFailed: judged.filter((s) => !s.gate!.passed).sort(byTime),
    pending: [
      ...standings.filter((s) => s.state === 'unjudged').sort(bySubmission),
      ...standings.filter((s) => s.state === 'pending').sort(bySubmission),
    ],
    failed: standings.filter((s) => s.state === 'failed').sort(byTeamName),
    top,
  };
}
