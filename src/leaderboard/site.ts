/**
 * Writes the leaderboard site: `index.html` and `leaderboard.json` (the latest board) and the same pair under
 * `snapshots/<day>/`, which later renders keep. Rendering the same day again replaces that day's snapshot;
 * rendering a day older than the newest snapshot is refused, since the latest board would go back in time.
 */
import path from 'node:path';
import { OptibenchError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import type { StoreDatabase } from '../store/schema.js';
import { SNAPSHOTS_DIR, snapshotDays } from './dates.js';
import { queryStandings } from '../evaluators/inference/board/query.js';
import { rankStandings, type Board } from './rank.js';
import { leaderboardFile, renderLeaderboardPage, type BoardInfo, type PagePlace } from '../evaluators/inference/board/render.js';
import type { LeaderboardFile } from '../evaluators/inference/board/schema.js';

export const DEFAULT_TOP = 10;
export const DEFAULT_TITLE = 'optibench leaderboard';

export interface SiteOptions {
  readonly db: StoreDatabase;
  /** The database file: relative report paths start at its folder. */
  readonly dbFile: string;
  readonly outDir: string;
  /** The board's day, YYYY-MM-DD (checked by the caller). */
  readonly date: string;
  readonly top?: number;
  readonly title?: string;
  readonly round?: number;
  readonly now?: Date;
}

export interface WrittenSite {
  readonly board: Board;
  readonly file: LeaderboardFile;
  readonly index: string;
  readonly json: string;
  readonly snapshotDir: string;
}

export async function writeLeaderboardSite(options: SiteOptions): Promise<WrittenSite> {
  const outDir = path.resolve(options.outDir);
  const days = await snapshotDays(outDir);
  const newest = days[0];
  if (newest !== undefined && newest > options.date) {
    throw new OptibenchError(
      `this site already holds the board of ${newest}, newer than ${options.date}: its index.html would go back in time (render ${newest} or later, or use another output folder)`,
      { file: path.join(outDir, SNAPSHOTS_DIR, newest) },
    );
  }
  const board = rankStandings(queryStandings(options.db, { round: options.round }), options.top ?? DEFAULT_TOP);
  const info: BoardInfo = {
    title: options.title ?? DEFAULT_TITLE,
    date: options.date,
    generatedAt: (options.now ?? new Date()).toISOString(),
    round: options.round ?? null,
    dbDir: path.dirname(path.resolve(options.dbFile)),
  };
  const earlier = days.filter((day) => day < options.date);
  const snapshotDir = path.join(outDir, SNAPSHOTS_DIR, options.date);
  const snapshot: PagePlace = {
    pageDir: snapshotDir,
    earlier,
    latestHref: '../../index.html',
    snapshotHref: (day) => `../${day}/index.html`,
    permalinkHref: null,
  };
  const latest: PagePlace = {
    pageDir: outDir,
    earlier,
    latestHref: null,
    snapshotHref: (day) => `${SNAPSHOTS_DIR}/${day}/index.html`,
    permalinkHref: `${SNAPSHOTS_DIR}/${options.date}/index.html`,
  };
  // The snapshot first: if writing stops half-way, the latest board never links to a day that is missing.
  await writePage(board, info, snapshot);
  const file = await writePage(board, info, latest);
  return { board, file, index: path.join(outDir, 'index.html'), json: path.join(outDir, 'leaderboard.json'), snapshotDir };
}

async function writePage(board: Board, info: BoardInfo, place: PagePlace): Promise<LeaderboardFile> {
  const file = leaderboardFile(board, info, place);
  await writeFileAtomic(path.join(place.pageDir, 'leaderboard.json'), `${JSON.stringify(file, null, 1)}\n`);
  await writeFileAtomic(path.join(place.pageDir, 'index.html'), renderLeaderboardPage(file, place));
  return file;
}
