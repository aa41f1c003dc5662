/**
 * The compression board: the generic page with its columns (raw score is the board's score; ratio, time,
 * similarity, normalised score), the champion marked, and on the champion's row the score a newcomer must reach
 * to take the top (`score_to_beat`: the champion's raw score plus the challenge margin of its run's config).
 * A board ranks one scoring profile, its newest baseline's (default when there is none): a lossless score (0..1)
 * and a default raw score (about 10^6) are not comparable, so a run of the other profile waits, unjudged, with
 * a note saying why.
 */
import type { BoardSpec } from '../../core/board.js';
import type { ResultsStore, StandingRow } from '../../core/store.js';
import { scoreToBeat } from './scoring.js';

const metric = (row: StandingRow, key: string) => row.metrics[key]?.value ?? null;

const profileOfRun = (store: ResultsStore, runId: string | null): string | null => {
  const config = runId ? store.readRun(runId)?.config : undefined;
  return config ? (typeof config.profile === 'string' ? config.profile : 'default') : null;
};

/** The profile the board ranks: its newest complete baseline's, else the config's default. */
export function boardProfile(store: ResultsStore): string {
  const baseline = store.findRuns({ evaluator: 'compression', kind: 'baseline', status: 'complete' })[0];
  return profileOfRun(store, baseline?.id ?? null) ?? 'default';
}

export const compressionBoard: BoardSpec = {
  title: 'Matrix compression',
  standings(store, all) {
    const profile = boardProfile(store);
    const rows = all.map((r): StandingRow => {
      const theirs = r.state === 'judged' || r.state === 'unjudged' ? profileOfRun(store, r.runId) : null;
      return theirs !== null && theirs !== profile ? { ...r, state: 'unjudged', note: `scored with the ${theirs} profile; this board ranks the ${profile} profile (its baseline's)` } : r;
    });
    const placed = rows.filter((r) => r.state === 'judged' && (r.verdict === null || r.verdict.passed) && r.score !== null && Number.isFinite(r.score));
    const top = placed.reduce<StandingRow | null>((best, r) => (best === null || r.score! > best.score! ? r : best), null);
    if (!top) return rows;
    const config = top.runId ? store.readRun(top.runId)?.config : undefined;
    const margin = typeof config?.challengeMargin === 'number' ? config.challengeMargin : 0.01;
    const beat = scoreToBeat(top.score, null, margin)!;
    return rows.map((r) => (r === top ? { ...r, metrics: { ...r.metrics, score_to_beat: { value: beat, stderr: null } } } : r));
  },
  columns: [
    { key: 'champion', label: 'champion', format: 'text', value: (row) => ((row as { rank?: number }).rank === 1 ? '★ champion' : '') },
    { key: 'ratio', label: 'compression ratio (mean)', format: 'ratio', value: (row) => metric(row, 'ratio') },
    { key: 'task_seconds', label: 'task time per sample (s)', format: 'number', value: (row) => metric(row, 'task_seconds') },
    { key: 'similarity', label: 'similarity (mean)', format: 'number', value: (row) => metric(row, 'similarity') },
    { key: 'normalized_score', label: 'normalised score', format: 'number', value: (row) => metric(row, 'normalized_score') },
    { key: 'failed', label: 'failed samples', format: 'integer', value: (row) => metric(row, 'failed') },
    { key: 'score_to_beat', label: 'score to beat (to take the top)', format: 'number', value: (row) => metric(row, 'score_to_beat') },
  ],
};
