/**
 * Geometry of the time-vs-accuracy scatter chart, computed here so the template only draws and the numbers
 * stay testable. The time axis starts at zero: a chart that cut it would make a 5 % difference look like 5x;
 * the accuracy axis never goes below zero. Each point is labelled with its rank and team name where no other
 * label, point or the gate's label is (src/report/svg-chart.ts placeLabels); a name that finds no room is
 * listed under the chart instead of printed over another.
 */
import { formatMs } from '../../../report/filters.js';
import { niceScale, timeTicks, type Scale } from '../../../report/chart-scale.js';
import { placeLabels, shorten, textBox } from '../../../report/svg-chart.js';
import type { BaselineView, TeamStanding } from './query.js';

/** Re-exported: the scale is shared by every chart of the reports. */
export { niceScale, timeTicks, type Scale };

/** What the chart needs of a row (a standing, or a row of leaderboard.json). */
type ChartRow = Pick<TeamStanding, 'team' | 'inferenceMs' | 'accNorm' | 'gate'>;

export const CHART_SIZE = { width: 720, height: 380 } as const;
const PLOT = { left: 64, right: CHART_SIZE.width - 36, top: 18, bottom: CHART_SIZE.height - 52 } as const;

export interface Tick {
  readonly at: number;
  readonly label: string;
}

export interface ChartPoint {
  readonly cx: number;
  readonly cy: number;
  readonly kind: 'ranked' | 'gate-failed' | 'baseline-point';
  /** The rank printed beside a ranked point; '' for the others. */
  readonly label: string;
  /** Tooltip: team, time and accuracy. */
  readonly title: string;
  /** The text beside the point (rank and team, cut to 24 characters), where it goes, and a leader line when it sits further out; null: no room, listed under the chart. */
  readonly text: { readonly value: string; readonly x: number; readonly y: number; readonly leader: { x: number; y: number } | null } | null;
}

export interface Chart {
  readonly width: number;
  readonly height: number;
  readonly plot: typeof PLOT;
  readonly xTicks: readonly Tick[];
  readonly yTicks: readonly Tick[];
  readonly points: readonly ChartPoint[];
  /** The accuracy the gate requires, when every judged run was held to the same one. */
  readonly gateLine: { readonly y: number; readonly label: string } | null;
  /** Judged teams left out for lack of an acc_norm figure. */
  readonly unplotted: number;
  /** Labels that found no room beside their point, in point order. */
  readonly unlabelled: readonly string[];
}

const project = (value: number, scale: Scale, from: number, to: number) =>
  Number((from + ((value - scale.min) / (scale.max - scale.min)) * (to - from)).toFixed(1));

const LABEL_CHARS = 24;

/**
 * One point per ranked team (filled, with its rank) and per team that failed the gate (hollow), and the
 * baseline run as a point of its own when the board has one baseline and one gate (its accuracy is the gate's).
 */
export function scatterChart(ranked: readonly (ChartRow & { readonly rank: number })[], gateFailed: readonly ChartRow[], baseline: BaselineView | null = null): Chart | null {
  const judged = [...ranked, ...gateFailed];
  const plotted = judged.filter((s) => s.accNorm !== null && s.inferenceMs !== null);
  if (plotted.length === 0) return null;
  const gates = judged.map((s) => s.gate!);
  const first = gates[0]!;
  const sameGate = gates.every((g) => g.metric === 'acc_norm' && g.baselineValue === first.baselineValue && g.maxDropPoints === first.maxDropPoints);
  const gatePct = sameGate ? first.baselineValue * 100 - first.maxDropPoints : null;
  const base = sameGate && baseline?.medianMs != null ? { ms: baseline.medianMs, pct: first.baselineValue * 100, runId: baseline.runId } : null;

  const accs = plotted.map((s) => s.accNorm!.value * 100);
  if (gatePct !== null) accs.push(gatePct);
  if (base) accs.push(base.pct);
  const x = niceScale(0, Math.max(...plotted.map((s) => s.inferenceMs!), base?.ms ?? 0));
  // Half a point of air above and below, so no point sits on the frame; never below 0 %.
  const y = niceScale(Math.max(0, Math.min(...accs) - 0.5), Math.max(...accs) + 0.5);
  const toX = (ms: number) => project(ms, x, PLOT.left, PLOT.right);
  const toY = (pct: number) => project(pct, y, PLOT.bottom, PLOT.top);

  const points: (Omit<ChartPoint, 'text'> & { readonly name: string })[] = plotted.map((s) => {
    const rank = 'rank' in s ? (s as { rank: number }).rank : null;
    const acc = (s.accNorm!.value * 100).toFixed(2);
    return {
      cx: toX(s.inferenceMs!),
      cy: toY(s.accNorm!.value * 100),
      kind: rank === null ? 'gate-failed' : 'ranked',
      label: rank === null ? '' : String(rank),
      title: `${rank === null ? 'failed the gate' : `#${rank}`} ${s.team}: ${formatMs(s.inferenceMs!)}, acc_norm ${acc} %`,
      name: shorten(rank === null ? s.team : `${rank} ${s.team}`, LABEL_CHARS),
    };
  });
  if (base) {
    points.push({
      cx: toX(base.ms),
      cy: toY(base.pct),
      kind: 'baseline-point',
      label: '',
      title: `baseline run ${base.runId}: ${formatMs(base.ms)}, acc_norm ${base.pct.toFixed(2)} %`,
      name: 'baseline',
    });
  }
  const gateLine = gatePct === null ? null : { y: toY(gatePct), label: `gate: acc_norm ≥ ${gatePct.toFixed(2)} %` };
  // The gate label is drawn at the left end (the time axis starts at 0: points seldom sit there); labels keep off it.
  const obstacles = gateLine ? [textBox(PLOT.left + 4, gateLine.y - 5, gateLine.label)] : [];
  const bounds = { x: PLOT.left + 2, y: PLOT.top, width: PLOT.right - PLOT.left - 2, height: PLOT.bottom - PLOT.top };
  const placed = placeLabels(points.map((p) => ({ cx: p.cx, cy: p.cy, text: p.name })), bounds, 6, obstacles);
  const unlabelled: string[] = [];
  return {
    ...CHART_SIZE,
    plot: PLOT,
    xTicks: timeTicks(x).map((t) => ({ ...t, at: toX(t.at) })),
    yTicks: y.ticks.map((t) => ({ at: toY(t), label: `${t.toFixed(y.decimals)} %` })),
    points: points.map(({ name, ...p }, i) => {
      const spot = placed[i];
      if (!spot) unlabelled.push(name);
      const text = spot
        ? {
            value: name,
            x: Number(spot.x.toFixed(1)),
            y: Number(spot.y.toFixed(1)),
            leader: spot.leader ? { x: Number((spot.box.x > p.cx ? spot.box.x : spot.box.x + spot.box.width).toFixed(1)), y: Number((spot.box.y + spot.box.height / 2).toFixed(1)) } : null,
          }
        : null;
      return { ...p, text };
    }),
    gateLine,
    unplotted: judged.length - plotted.length,
    unlabelled,
  };
}
