/**
 * The run report's charts: how long each batch took (the distribution, with optimum-benchmark's percentiles),
 * how fast the pass went as it went (batches are sorted by length, so the rate changes along the pass), and
 * each metric with its standard error against chance.
 */
import { formatMs } from '../../../report/filters.js';
import { barChart, histogram, lineChart } from '../../../report/svg-chart.js';
import type { InferenceResult } from '../results.js';
import { sharesByOperator, sharesByScope, type Share } from '../operator-shares.js';

export interface RunCharts {
  readonly latency: string | null;
  readonly throughput: string | null;
  /** Which measured pass the throughput chart shows (1-based), and of how many. */
  readonly throughputPass: { readonly pass: number; readonly of: number } | null;
  readonly accuracy: string | null;
  /** `--profile-ops`: kernel time by operator and by graph scope. */
  readonly operators: string | null;
  readonly scopes: string | null;
}

export function runCharts(r: InferenceResult): RunCharts {
  const batches = r.timings.batches;
  const all = batches?.passesMs.flat() ?? [];
  const lat = batches?.latency ?? null;
  const latency =
    lat && all.length
      ? histogram({
          title: `Time of each batch over ${batches!.passesMs.length} measured pass${batches!.passesMs.length === 1 ? '' : 'es'}: ${lat.count} batches`,
          axisLabel: 'batch time (request to answer)',
          values: all,
          markers: [
            { value: lat.p50Ms, label: `p50 ${formatMs(lat.p50Ms)}` },
            { value: lat.p90Ms, label: `p90 ${formatMs(lat.p90Ms)}` },
            { value: lat.p99Ms, label: `p99 ${formatMs(lat.p99Ms)}` },
          ],
        })
      : null;
  const pass = batches ? medianPass(batches.passesMs) : null;
  const throughput = pass === null ? null : throughputChart(batches!.passesMs[pass]!, batches!.requests);
  return {
    latency,
    throughput,
    throughputPass: pass === null || throughput === null ? null : { pass: pass + 1, of: batches!.passesMs.length },
    accuracy: accuracyChart(r),
    operators: r.payload.operatorProfile ? shareChart(sharesByOperator(r.payload.operatorProfile.kernels), 'operator') : null,
    scopes: r.payload.operatorProfile ? shareChart(sharesByScope(r.payload.operatorProfile.kernels), 'graph scope') : null,
  };
}

/** The largest shares of the profiled kernel time, the rest summed in one bar. */
function shareChart(shares: readonly Share[], by: string): string | null {
  if (shares.length === 0) return null;
  const shown = shares.slice(0, 12);
  const rest = shares.slice(12).reduce((sum, s) => sum + s.share, 0);
  const bars = shown.map((s) => ({ label: s.name, value: 100 * s.share, text: `${(100 * s.share).toFixed(1)} % (${formatMs(s.ms)})` }));
  if (rest > 0) bars.push({ label: `${shares.length - shown.length} others`, value: 100 * rest, text: `${(100 * rest).toFixed(1)} %` });
  return barChart({ title: `Kernel time by ${by}`, axisLabel: 'percent of the profiled kernel time', bars, format: (v) => `${Number(v.toFixed(1))} %` });
}

/** The pass whose total batch time is the median (the lower one of two middles): a typical pass, not the best. */
export function medianPass(passesMs: readonly (readonly number[])[]): number | null {
  if (passesMs.length === 0) return null;
  const totals = passesMs.map((pass) => pass.reduce((a, b) => a + b, 0));
  const sorted = [...totals].sort((a, b) => a - b);
  return totals.indexOf(sorted[(sorted.length - 1) >> 1]!);
}

/** Each batch's requests per second, at the time into the pass it finished (batch times added up). */
export function throughputPoints(passMs: readonly number[], requests: readonly number[]): { x: number; y: number }[] {
  let elapsed = 0;
  return passMs.map((ms, i) => {
    elapsed += ms;
    return { x: elapsed, y: ms > 0 ? (requests[i] ?? 0) / (ms / 1000) : 0 };
  });
}

function throughputChart(passMs: readonly number[], requests: readonly number[]): string | null {
  if (passMs.length === 0 || passMs.length !== requests.length) return null;
  const total = passMs.reduce((a, b) => a + b, 0);
  const count = requests.reduce((a, b) => a + b, 0);
  const rate = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  return lineChart({
    title: 'Requests per second of each batch along one measured pass',
    xLabel: 'time into the pass (batch times added up)',
    yLabel: 'requests/s',
    points: throughputPoints(passMs, requests),
    yFormat: rate,
    rules: total > 0 ? [{ value: count / (total / 1000), label: `whole pass ${rate(count / (total / 1000))} requests/s` }] : [],
  });
}

function accuracyChart(r: InferenceResult): string | null {
  const names = [r.payload.primaryMetric, ...Object.keys(r.metrics).filter((n) => n !== r.payload.primaryMetric)];
  const bars = names.flatMap((name) => {
    const m = r.metrics[name];
    if (!m || !Number.isFinite(m.value)) return [];
    const se = m.stderr !== null && Number.isFinite(m.stderr) ? m.stderr * 100 : null;
    const value = m.value * 100;
    return [{ label: name, value, ...(se === null ? {} : { low: value - se, high: value + se }), kind: name === r.payload.primaryMetric ? 'good' : 'neutral', text: se === null ? `${value.toFixed(2)} %` : `${value.toFixed(2)} ± ${se.toFixed(2)} %` }];
  });
  if (bars.length === 0) return null;
  // Guessing among the endings: the floor every metric is to be read against.
  const choices = new Set(r.payload.items.map((item) => item.loglikelihoods.length));
  const chance = choices.size === 1 ? 100 / [...choices][0]! : null;
  return barChart({
    title: 'Each metric with its standard error',
    axisLabel: 'percent of items right (whiskers: ± 1 standard error)',
    bars,
    format: (v) => `${Number(v.toFixed(2))} %`,
    rules: chance === null ? [] : [{ value: chance, label: `chance ${Number(chance.toFixed(2))} %`, kind: 'chance' }],
  });
}

