/**
 * Writes the leaderboard site: one board per evaluator from the same results store. The default evaluator's
 * board is the site's front page (`index.html`, its JSON twin, `snapshots/<day>/`), so published links keep
 * working; every other evaluator with submissions gets the same under `<evaluator-id>/`. Each board is the
 * evaluator's own page when it has one, else the generic page of its columns. Rendering the same day again
 * replaces that day's snapshots; rendering a day older than the newest snapshot is refused, since the latest
 * boards would go back in time.
 */
import path from 'node:path';
import type { Board, BoardInfo, PagePlace, RenderedBoard } from '../core/board.js';
import { standingsSpec, type AnyEvaluator } from '../core/evaluator.js';
import { OptibenchError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import type { ResultsStore, StandingRow } from '../core/store.js';
import { builtinEvaluators } from '../evaluators/index.js';
import { SNAPSHOTS_DIR, snapshotDays } from './dates.js';
import { renderGenericBoard } from './generic-board.js';
import { relativeHref, reportHref } from './links.js';
import { rankStandings } from './rank.js';

export const DEFAULT_TOP = 10;
export const DEFAULT_TITLE = 'optibench leaderboard';

export interface SiteOptions {
  readonly store: ResultsStore;
  /** The database file: relative report paths start at its folder. */
  readonly dbFile: string;
  readonly outDir: string;
  /** The board's day, YYYY-MM-DD (checked by the caller). */
  readonly date: string;
  readonly top?: number;
  /** The front page's title; the other boards are titled by their evaluators. */
  readonly title?: string;
  readonly round?: number;
  readonly now?: Date;
  /** The registry's evaluators (default: the built-in ones); the first is the front page. */
  readonly evaluators?: readonly AnyEvaluator[];
}

export interface WrittenBoard {
  readonly evaluator: string;
  readonly title: string;
  readonly board: Board;
  readonly json: unknown;
  readonly dir: string;
  readonly index: string;
  readonly jsonFile: string;
  readonly snapshotDir: string;
}

export interface WrittenSite {
  /** The front page's board (the default evaluator's). */
  readonly board: Board;
  readonly file: unknown;
  readonly index: string;
  readonly json: string;
  readonly snapshotDir: string;
  /** Every board written, the front page first. */
  readonly boards: readonly WrittenBoard[];
}

/** The JSON twin's file name: the inference board keeps the name it was published under. */
function jsonName(evaluator: AnyEvaluator, front: boolean): string {
  return front || evaluator.board.render ? 'leaderboard.json' : 'board.json';
}

export async function writeLeaderboardSite(options: SiteOptions): Promise<WrittenSite> {
  const outDir = path.resolve(options.outDir);
  const evaluators = options.evaluators ?? builtinEvaluators();
  const days = await snapshotDays(outDir);
  const newest = days[0];
  if (newest !== undefined && newest > options.date) {
    throw new OptibenchError(
      `this site already holds the board of ${newest}, newer than ${options.date}: its index.html would go back in time (render ${newest} or later, or use another output folder)`,
      { file: path.join(outDir, SNAPSHOTS_DIR, newest) },
    );
  }
  const top = options.top ?? DEFAULT_TOP;
  const query = { round: options.round };
  // The front page always; another evaluator's board once it has a submission.
  const boards = evaluators
    .map((evaluator, i) => {
      const rows = options.store.standings(standingsSpec(evaluator), query);
      const enriched: StandingRow[] = evaluator.board.standings ? evaluator.board.standings(options.store, rows) : rows;
      return { evaluator, front: i === 0, board: rankStandings(enriched, top), dir: i === 0 ? outDir : path.join(outDir, evaluator.id) };
    })
    .filter((b) => b.front || b.board.ranked.length + b.board.rejected.length + b.board.pending.length + b.board.failed.length > 0);

  const generatedAt = (options.now ?? new Date()).toISOString();
  const dbDir = path.dirname(path.resolve(options.dbFile));
  const written: WrittenBoard[] = [];
  for (const b of boards) {
    const title = b.front ? (options.title ?? DEFAULT_TITLE) : b.evaluator.board.title;
    const info: BoardInfo = { title, date: options.date, generatedAt, round: options.round ?? null };
    const boardDays = b.front ? days : await snapshotDays(b.dir);
    const earlier = boardDays.filter((day) => day < options.date);
    const snapshotDir = path.join(b.dir, SNAPSHOTS_DIR, options.date);
    const others = (pageDir: string) =>
      boards.filter((o) => o !== b).map((o) => ({ title: o.front ? (options.title ?? DEFAULT_TITLE) : o.evaluator.board.title, href: relativeHref(pageDir, path.join(o.dir, 'index.html')) }));
    const place = (pageDir: string, latest: boolean): PagePlace => ({
      pageDir,
      earlier,
      latestHref: latest ? null : '../../index.html',
      snapshotHref: (day) => (latest ? `${SNAPSHOTS_DIR}/${day}/index.html` : `../${day}/index.html`),
      permalinkHref: latest ? `${SNAPSHOTS_DIR}/${options.date}/index.html` : null,
      otherBoards: others(pageDir),
      reportHref: (reportPath) => reportHref(reportPath, pageDir, dbDir),
    });
    const name = jsonName(b.evaluator, b.front);
    const render = (p: PagePlace): RenderedBoard => (b.evaluator.board.render ? b.evaluator.board.render(b.board, info, p) : renderGenericBoard(b.evaluator, b.board, info, p, name));
    // The snapshot first: if writing stops half-way, the latest board never links to a day that is missing.
    await writePage(render(place(snapshotDir, false)), snapshotDir, name);
    const latest = render(place(b.dir, true));
    await writePage(latest, b.dir, name);
    written.push({ evaluator: b.evaluator.id, title, board: b.board, json: latest.json, dir: b.dir, index: path.join(b.dir, 'index.html'), jsonFile: path.join(b.dir, name), snapshotDir });
  }
  const front = written[0]!;
  return { board: front.board, file: front.json, index: front.index, json: front.jsonFile, snapshotDir: front.snapshotDir, boards: written };
}

async function writePage(page: RenderedBoard, dir: string, jsonName: string): Promise<void> {
  await writeFileAtomic(path.join(dir, jsonName), `${JSON.stringify(page.json, null, 1)}\n`);
  await writeFileAtomic(path.join(dir, 'index.html'), page.html);
}
