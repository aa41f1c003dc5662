/**
 * The leaderboard page and its JSON twin, from a ranked board. The JSON is built first and the page is
 * rendered from it alone, so the two can never disagree. Team names are user input: they reach the page only
 * through nunjucks' autoescape (text and attributes alike) and never inside the script.
 */
import type nunjucks from 'nunjucks';
import { boardFileBase, boardRowBase, finiteOrNull, timedByLabel, type Board, type BoardInfo, type PagePlace, type RenderedBoard } from '../../../core/board.js';
import { createReportEnvironment } from '../../../report/environment.js';
import { scatterChart } from './chart.js';
import type { BaselineView, TeamStanding } from './query.js';
import { LEADERBOARD_SCHEMA, LEADERBOARD_VERSION, type LeaderboardFile, type LeaderboardRow } from './schema.js';

/** The inference board as the site writes it: `leaderboard.json` (version 2) and the page rendered from it. */
export function renderInferenceBoard(board: Board<TeamStanding>, info: BoardInfo, place: PagePlace): RenderedBoard {
  const file = leaderboardFile(board, info, place);
  return { json: file, html: renderLeaderboardPage(file, place) };
}

export function leaderboardFile(board: Board<TeamStanding>, info: BoardInfo, place: PagePlace): LeaderboardFile {
  const row = (s: TeamStanding): LeaderboardRow => ({
    ...boardRowBase(s, place),
    inferenceMs: finiteOrNull(s.inferenceMs),
    speedup: finiteOrNull(s.speedup),
    baseline: s.baseline,
    acc: s.acc,
    accNorm: s.accNorm,
    gate: s.gate,
  });
  return {
    schema: LEADERBOARD_SCHEMA,
    version: LEADERBOARD_VERSION,
    ...boardFileBase(board, info, place),
    baseline: sharedBaseline([...board.ranked, ...board.rejected, ...board.pending, ...board.failed]),
    ranked: board.ranked.map((s) => ({ ...row(s), rank: s.rank, advances: s.advances })),
    gateFailed: board.rejected.map(row),
    pending: board.pending.map(row),
    failed: board.failed.map(row),
  };
}

/** The one baseline every row that names one is against, so the page can say it once; null if they differ or none does. */
function sharedBaseline(rows: readonly TeamStanding[]): BaselineView | null {
  const named = rows.flatMap((r) => (r.baseline ? [r.baseline] : []));
  const first = named[0];
  return first && named.every((b) => b.runId === first.runId) ? first : null;
}

export function renderLeaderboardPage(file: LeaderboardFile, place: PagePlace): string {
  const advancing = file.ranked.filter((r) => r.advances).length;
  const rows = [...file.ranked, ...file.gateFailed, ...file.pending, ...file.failed];
  return environment().render('leaderboard.njk', {
    f: file,
    // Without one baseline for the whole board, each judged row says which it is against.
    baselineColumn: file.baseline === null && rows.some((r) => r.baseline !== null),
    chart: scatterChart(file.ranked, file.gateFailed, file.baseline),
    // The cut line only means something with teams below it.
    cutAfter: advancing > 0 && advancing < file.ranked.length ? advancing - 1 : -1,
    latestHref: place.latestHref,
    permalinkHref: place.permalinkHref,
    earlier: place.earlier.map((day) => ({ day, href: place.snapshotHref(day) })),
    otherBoards: place.otherBoards,
  });
}

let cached: nunjucks.Environment | undefined;

function environment(): nunjucks.Environment {
  if (!cached) {
    cached = createReportEnvironment();
    // Signed, so a drop never reads as a gain.
    cached.addFilter('signed', (points: number) => `${points >= 0 ? '+' : '−'}${Math.abs(points).toFixed(2)}`);
    cached.addFilter('machine', (match: boolean | null) => (match === null ? 'unchecked' : match ? 'reference' : 'other machine'));
    cached.addFilter('timedBy', timedByLabel);
  }
  return cached;
}
