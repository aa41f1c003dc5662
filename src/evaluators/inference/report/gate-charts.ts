/**
 * The charts of the bench and compare pages: what each plugin buys in time (speedup against the baseline),
 * what it costs in accuracy (against the gate's line), and for a pair of runs, the items each got right the
 * other did not and the metric difference with its interval. Read only fields bench.json and compare.json
 * already have.
 */
import type { BenchFile } from '../bench-schema.js';
import type { CompareFile } from '../compare-schema.js';
import { barChart, scatterChart, type Bar } from '../../../report/svg-chart.js';
import { formatMs } from '../../../report/filters.js';

/** The two-sided 95 % normal quantile: the interval drawn around a paired difference. */
const Z95 = 1.959963984540054;

const times = (x: number) => `${x.toFixed(2)}×`;

export interface BenchCharts {
  readonly speedup: string | null;
  readonly accuracyTime: string | null;
  /** Configurations whose label found no room beside its point (listed under the chart). */
  readonly unlabelled: readonly string[];
}

export function benchCharts(b: BenchFile): BenchCharts {
  const others = b.configurations.filter((c) => c.gate !== null);
  const speedup = others.length
    ? barChart({
        title: 'Speedup of each configuration over the baseline, both measured in this invocation',
        axisLabel: 'speedup (baseline median time / configuration median time)',
        bars: others.map((c): Bar => ({ label: c.label, value: c.speedup, kind: c.gate!.pass ? (c.speedup >= 1 ? 'good' : 'neutral') : 'bad', text: `${times(c.speedup)}${c.gate!.pass ? '' : ' (failed the gate)'}` })),
        format: times,
        rules: [{ value: 1, label: 'baseline 1×', kind: 'baseline' }],
        include: [0],
      })
    : null;

  const metric = b.gate.metric;
  const baseline = b.configurations.find((c) => c.gate === null);
  const baselineValue = baseline?.metrics[metric]?.value;
  const points = b.configurations.flatMap((c) => {
    const m = c.metrics[metric];
    if (!m) return [];
    const pct = m.value * 100;
    const se = m.stderr === null ? null : m.stderr * 100;
    const kind = c.gate === null ? 'baseline-point' : c.gate.pass ? 'pass' : 'fail';
    return [
      {
        x: c.inference.medianMs,
        y: pct,
        ...(se === null ? {} : { low: pct - se, high: pct + se }),
        label: c.label,
        kind,
        title: `${c.label}: ${formatMs(c.inference.medianMs)}, ${metric} ${pct.toFixed(2)}${se === null ? '' : ` ± ${se.toFixed(2)}`} %${c.gate === null ? ' (baseline)' : c.gate.pass ? '' : ', failed the gate'}`,
      },
    ];
  });
  const gatePct = baselineValue === undefined ? null : baselineValue * 100 - b.gate.maxDropPoints;
  const scatter = scatterChart({
    title: `Median inference time against ${metric}, one point per configuration`,
    xLabel: 'median inference time (faster is left)',
    yLabel: `${metric} (%)`,
    points,
    yFormat: (v) => `${Number(v.toFixed(2))} %`,
    hLine: gatePct === null ? null : { value: gatePct, label: `gate: ${metric} ≥ ${gatePct.toFixed(2)} %` },
  });
  return { speedup, accuracyTime: scatter?.svg ?? null, unlabelled: scatter?.unlabelled ?? [] };
}

export interface CompareCharts {
  readonly outcome: string | null;
  readonly difference: string | null;
}

/** The four cells of the paired table of one metric, as counts. */
export function outcomeBars(table: CompareFile['metrics'][number]['table']): Bar[] {
  return [
    { label: 'both right', value: table.bothCorrect, kind: 'neutral' },
    { label: 'lost (baseline only)', value: table.baselineOnly, kind: 'bad' },
    { label: 'gained (candidate only)', value: table.candidateOnly, kind: 'good' },
    { label: 'both wrong', value: table.neitherCorrect, kind: 'neutral' },
  ];
}

/** The difference in points with its 95 % interval (± 1.96 paired standard errors); no interval without a standard error. */
export function differenceInterval(m: Pick<CompareFile['metrics'][number], 'differencePoints' | 'pairedStderrPoints'>): { low: number; high: number } | null {
  return m.pairedStderrPoints === null ? null : { low: m.differencePoints - Z95 * m.pairedStderrPoints, high: m.differencePoints + Z95 * m.pairedStderrPoints };
}

export function compareCharts(c: CompareFile): CompareCharts {
  const judged = c.metrics.find((m) => m.name === c.gate.metric) ?? c.metrics[0];
  const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
  const outcome = judged
    ? barChart({
        title: `${judged.name}, item by item: what each run got right`,
        axisLabel: 'items',
        bars: outcomeBars(judged.table),
        format: (v) => String(Number(v.toFixed(2))),
      })
    : null;
  const difference = c.metrics.length
    ? barChart({
        title: 'Candidate minus baseline, in points, with 95 % intervals',
        axisLabel: 'difference (points); whiskers: ± 1.96 paired standard errors',
        style: 'dot',
        bars: c.metrics.map((m): Bar => {
          const interval = differenceInterval(m);
          return {
            label: m.name,
            value: m.differencePoints,
            ...(interval ?? {}),
            kind: m.name === c.gate.metric ? (c.verdict.pass ? 'good' : 'bad') : 'neutral',
            text: interval ? `${signed(m.differencePoints)} [${signed(interval.low)}, ${signed(interval.high)}]` : signed(m.differencePoints),
          };
        }),
        format: (v) => signed(v),
        rules: [
          { value: 0, label: 'no change', kind: 'baseline' },
          { value: -c.gate.maxDropPoints, label: `gate: ${c.gate.metric} ≥ −${c.gate.maxDropPoints.toFixed(2)}`, kind: 'gate' },
        ],
      })
    : null;
  return { outcome, difference };
}
