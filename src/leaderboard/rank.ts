/**
 * Places standings on a board, for any evaluator. Only rows whose verdict passed (or that need none) are
 * ranked, by score in the evaluator's direction; equal scores share a rank (1, 2, 2, 4), and a tie at the cut
 * line takes every tied team on: splitting a tie would rank on something the competition does not measure.
 */
import type { Board, Ranked } from '../core/board.js';
import type { StandingRow } from '../core/store.js';

const byTeamName = (a: StandingRow, b: StandingRow) => (a.team < b.team ? -1 : a.team > b.team ? 1 : a.teamId - b.teamId);
const bySubmission = (a: StandingRow, b: StandingRow) => Date.parse(a.submittedAt) - Date.parse(b.submittedAt) || byTeamName(a, b);
/** Better first; within a tie, the earlier submission first (it got there first), then by name. */
const byScore = (a: StandingRow, b: StandingRow) => (a.direction === 'lower' ? a.score! - b.score! : b.score! - a.score!) || bySubmission(a, b);

/** A judged row's verdict passed, or it needed none. */
const passed = (s: StandingRow) => s.verdict === null || s.verdict.passed;

export function rankStandings<Row extends StandingRow>(standings: readonly Row[], top: number): Board<Row> {
  const judged = standings.filter((s) => s.state === 'judged');
  const ranked: Ranked<Row>[] = [];
  judged
    .filter(passed)
    .sort(byScore)
    .forEach((s, i) => {
      const previous = ranked[i - 1];
      const rank = previous && previous.score === s.score ? previous.rank : i + 1;
      ranked.push({ ...s, rank, advances: rank <= top });
    });
  return {
    ranked,
    rejected: judged.filter((s) => !passed(s)).sort(byScore),
    pending: [
      ...standings.filter((s) => s.state === 'unjudged').sort(bySubmission),
      ...standings.filter((s) => s.state === 'pending').sort(bySubmission),
    ],
    failed: standings.filter((s) => s.state === 'failed').sort(byTeamName),
    top,
  };
}
