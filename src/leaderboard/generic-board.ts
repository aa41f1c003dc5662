/**
 * The board of an evaluator that brings no page of its own: its columns, its score with the direction that wins,
 * its verdicts, and a bar chart of the ranked scores. The JSON is built first and the page rendered from it
 * alone, so the two never disagree; team names reach the page only through nunjucks' autoescape.
 */
import type nunjucks from 'nunjucks';
import { boardFileBase, boardRowBase, finiteOrNull, timedByLabel, type Board, type BoardInfo, type PagePlace, type RenderedBoard } from '../core/board.js';
import type { AnyEvaluator } from '../core/evaluator.js';
import type { StandingRow } from '../core/store.js';
import { createReportEnvironment } from '../report/environment.js';
import { formatMs, formatPercentStderr } from '../report/filters.js';
import { BOARD_SCHEMA, BOARD_VERSION, type BoardFile, type BoardRow } from './board-file.js';

export function boardFile(evaluator: AnyEvaluator, board: Board, info: BoardInfo, place: PagePlace): BoardFile {
  const row = (s: StandingRow): BoardRow => ({
    ...boardRowBase(s, place),
    score: finiteOrNull(s.score),
    verdict: s.verdict ? { passed: s.verdict.passed, reason: s.verdict.reason, referenceRunId: s.verdict.referenceRunId } : null,
    columns: Object.fromEntries(
      evaluator.board.columns.map((c) => {
        const value = c.value(s) ?? null;
        return [c.key, typeof value === 'number' ? finiteOrNull(value) : value];
      }),
    ),
  });
  const { name, label, unit, direction } = evaluator.headline;
  return {
    schema: BOARD_SCHEMA,
    version: BOARD_VERSION,
    evaluator: { id: evaluator.id, version: evaluator.version, title: evaluator.title },
    score: { name, label, unit, direction },
    columns: evaluator.board.columns.map(({ key, label: l, format }) => ({ key, label: l, format })),
    ...boardFileBase(board, info, place),
    ranked: board.ranked.map((s) => ({ ...row(s), rank: s.rank, advances: s.advances })),
    rejected: board.rejected.map(row),
    pending: board.pending.map(row),
    failed: board.failed.map(row),
  };
}

/** A cell as text, by the column's format. */
export function formatCell(value: unknown, format: string): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'object' && 'value' in value) {
    const m = value as { value: number; stderr: number | null };
    return format === 'percent' ? `${formatPercentStderr(m.value, m.stderr)} %` : String(m.value);
  }
  if (typeof value === 'number') {
    switch (format) {
      case 'ms':
        return formatMs(value);
      case 'percent':
        return `${(100 * value).toFixed(2)} %`;
      case 'ratio':
        return `${value.toFixed(2)}×`;
      case 'integer':
        return Math.round(value).toLocaleString('en-US');
      default:
        return String(Number(value.toPrecision(6)));
    }
  }
  return String(value);
}

/** The value a column sorts by. */
function sortValue(value: unknown): string | number {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' && 'value' in value) return (value as { value: number }).value;
  return value as string | number;
}

export interface Bars {
  readonly width: number;
  readonly height: number;
  readonly labelWidth: number;
  readonly rows: readonly { readonly y: number; readonly width: number; readonly label: string; readonly value: string }[];
}

/** Horizontal bars of the ranked scores, from zero, so lengths compare honestly; null without a positive score. */
export function scoreBars(file: BoardFile): Bars | null {
  const scores = file.ranked.filter((r) => r.score !== null && Number.isFinite(r.score));
  const max = Math.max(0, ...scores.map((r) => Math.abs(r.score!)));
  if (scores.length === 0 || max === 0) return null;
  const labelWidth = 200;
  const plot = 460;
  const rowHeight = 24;
  return {
    width: labelWidth + plot + 120,
    height: scores.length * rowHeight + 8,
    labelWidth,
    rows: scores.map((r, i) => ({
      y: 4 + i * rowHeight,
      width: Number(((Math.abs(r.score!) / max) * plot).toFixed(1)),
      label: `#${r.rank} ${r.team}`,
      value: formatCell(r.score, file.score.unit === 'ms' ? 'ms' : 'number') + (file.score.unit && file.score.unit !== 'ms' ? ` ${file.score.unit}` : ''),
    })),
  };
}

export function renderGenericBoard(evaluator: AnyEvaluator, board: Board, info: BoardInfo, place: PagePlace, jsonName: string): RenderedBoard {
  const file = boardFile(evaluator, board, info, place);
  const advancing = file.ranked.filter((r) => r.advances).length;
  const cells = (r: BoardRow) => file.columns.map((c) => ({ text: formatCell(r.columns[c.key], c.format), sort: sortValue(r.columns[c.key]) }));
  const html = environment().render('board.njk', {
    f: file,
    jsonName,
    better: file.score.direction === 'lower' ? 'lower is better' : 'higher is better',
    scoreText: (r: BoardRow) => formatCell(r.score, file.score.unit === 'ms' ? 'ms' : 'number'),
    cells,
    bars: scoreBars(file),
    cutAfter: advancing > 0 && advancing < file.ranked.length ? advancing - 1 : -1,
    latestHref: place.latestHref,
    permalinkHref: place.permalinkHref,
    earlier: place.earlier.map((day) => ({ day, href: place.snapshotHref(day) })),
    otherBoards: place.otherBoards,
  });
  return { json: file, html };
}

let cached: nunjucks.Environment | undefined;

function environment(): nunjucks.Environment {
  if (!cached) {
    cached = createReportEnvironment();
    cached.addFilter('machine', (match: boolean | null) => (match === null ? 'unchecked' : match ? 'reference' : 'other machine'));
    cached.addFilter('timedBy', timedByLabel);
  }
  return cached;
}
