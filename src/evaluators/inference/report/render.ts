/**
 * HTML pages of `optibench compare` and `optibench bench`, rendered with the same nunjucks settings and
 * filters as the run report (autoescape, a missing field fails the render) from reports/templates/.
 */
import path from 'node:path';
import type nunjucks from 'nunjucks';
import { createReportEnvironment } from '../../../report/environment.js';
import type { BenchFile } from '../bench-schema.js';
import type { CompareFile } from '../compare-schema.js';
import { writeFileAtomic } from '../../../core/atomic-file.js';
import { formatP } from '../gate.js';
import { benchCharts, compareCharts } from './gate-charts.js';

let cached: nunjucks.Environment | undefined;

function environment(): nunjucks.Environment {
  if (!cached) {
    cached = createReportEnvironment();
  }
  return cached;
}

/** `+1.25` / `-0.50`: signed, so a drop never reads as a gain. */
function signedPoints(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
}

export function renderCompareReport(c: CompareFile): string {
  return environment().render('compare.njk', {
    c,
    metricRows: c.metrics.map((m) => ({
      ...m,
      difference: signedPoints(m.differencePoints),
      stderr: m.pairedStderrPoints === null ? '—' : m.pairedStderrPoints.toFixed(2),
      p: formatP(m.mcnemarP),
      judged: m.name === c.gate.metric,
    })),
    // The banner prints PASS or FAIL itself: the reason's own leading verdict would read "PASS PASS:".
    reason: c.verdict.reason.replace(/^(PASS|FAIL):\s*/, ''),
    charts: compareCharts(c),
  });
}

export function renderBenchReport(b: BenchFile): string {
  return environment().render('bench.njk', {
    b,
    rows: b.configurations.map((c) => {
      const headline = c.metrics[c.headlineMetric];
      const median = c.micro.find((m) => m.batch === 'median') ?? null;
      return {
        ...c,
        headline: headline ? { value: headline.value, stderr: headline.stderr } : null,
        gateText: c.gate ? `${c.gate.pass ? 'PASS' : 'FAIL'} (${signedPoints(c.gate.differencePoints)}, p = ${formatP(c.gate.mcnemarP)})` : 'baseline',
        gateClass: c.gate ? (c.gate.pass ? 'status-complete' : 'status-incomplete') : 'muted',
        medianBatch: median,
      };
    }),
    anyMicro: b.configurations.some((c) => c.micro.length > 0),
    charts: benchCharts(b),
  });
}

export function writeCompareReport(c: CompareFile, dir: string): Promise<string> {
  return writeFileAtomic(path.join(dir, 'index.html'), renderCompareReport(c));
}

export function writeBenchReport(b: BenchFile, dir: string): Promise<string> {
  return writeFileAtomic(path.join(dir, 'index.html'), renderBenchReport(b));
}
