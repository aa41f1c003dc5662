/**
 * Geometry of the time-vs-accuracy scatter chart, computed here so the template only draws and the numbers
 * stay testable. The time axis starts at zero: a chart that cut it would make a 5 % difference look like 5x.
 */
import { formatMs } from '../../../report/filters.js';
import { niceScale, timeTicks, type Scale } from '../../../report/chart-scale.js';

/** Re-exported: the scale is shared by every chart of the reports. */
export { niceScale, timeTicks, type Scale };
import type { TeamStanding } from './query.js';

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
  readonly kind: 'ranked' | 'gate-failed';
  /** The rank printed beside a ranked point; '' for the others. */
  readonly label: string;
  /** Tooltip: team, time and accuracy. */
  readonly title: string;
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
}

const project = (value: number, scale: Scale, from: number, to: number) =>
  Number((from + ((value - scale.min) / (scale.max - scale.min)) * (to - from)).toFixed(1));

/** One point per ranked team (filled, with its rank) and per team that failed the gate (hollow). */
export function scatterChart(ranked: readonly (ChartRow & { readonly rank: number })[], gateFailed: readonly ChartRow[]): Chart | null {
  const judged = [...ranked, ...gateFailed];
  const plotted = judged.filter((s) => s.accNorm !== null && s.inferenceMs !== null);
  if (plotted.length === 0) return null;
  const gates = judged.map((s) => s.gate!);
  const first = gates[0]!;
  const sameGate = gates.every((g) => g.metric === 'acc_norm' && g.baselineValue === first.baselineValue && g.maxDropPoints === first.maxDropPoints);
  const gatePct = sameGate ? first.baselineValue * 100 - first.maxDropPoints : null;

  const accs = plotted.map((s) => s.accNorm!.value * 100);
  if (gatePct !== null) accs.push(gatePct);
  const x = niceScale(0, Math.max(...plotted.map((s) => s.inferenceMs!)));
  // Half a point of air above and below, so no point sits on the frame.
  const y = niceScale(Math.min(...accs) - 0.5, Math.max(...accs) + 0.5);
  const toX = (ms: number) => project(ms, x, PLOT.left, PLOT.right);
  const toY = (pct: number) => project(pct, y, PLOT.bottom, PLOT.top);

  return {
    ...CHART_SIZE,
    plot: PLOT,
    xTicks: timeTicks(x).map((t) => ({ ...t, at: toX(t.at) })),
    yTicks: y.ticks.map((t) => ({ at: toY(t), label: `${t.toFixed(y.decimals)} %` })),
    points: plotted.map((s) => {
      const rank = 'rank' in s ? (s as { rank: number }).rank : null;
      const acc = (s.accNorm!.value * 100).toFixed(2);
      return {
        cx: toX(s.inferenceMs!),
        cy: toY(s.accNorm!.value * 100),
        kind: rank === null ? 'gate-failed' : 'ranked',
        label: rank === null ? '' : String(rank),
        title: `${rank === null ? 'failed the gate' : `#${rank}`} ${s.team}: ${formatMs(s.inferenceMs!)}, acc_norm ${acc} %`,
      };
    }),
    gateLine: gatePct === null ? null : { y: toY(gatePct), label: `gate: acc_norm ≥ ${gatePct.toFixed(2)} %` },
    unplotted: judged.length - plotted.length,
  };
}
