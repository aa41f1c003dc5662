/**
 * A compression run's report page (reports/templates/compression.njk, the shared report environment): per-sample
 * and total ratio, time, similarity, raw and normalised scores, bit-exactness, each sample's order-0 entropy
 * bound, the verdict against score_to_beat, and an SVG chart of ratio against time. Names a solution chose reach
 * the page only through nunjucks' autoescape; the chart holds numbers only.
 */
import type nunjucks from 'nunjucks';
import { createReportEnvironment } from '../../report/environment.js';
import type { CompressionResult, SampleItem } from './results.js';

let env: nunjucks.Environment | undefined;
const fixed = (x: number | null, digits: number) => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const sig = (x: number | null) => (x === null || !Number.isFinite(x) ? '—' : String(Number(x.toPrecision(8))));

/** Ratio (y) against task time (x) of every sample that round-tripped; axes from 0 so distances compare honestly. */
export function ratioTimeChart(items: readonly SampleItem[]): string | null {
  const points = items.filter((i) => i.failure === null).map((i) => ({ x: i.compressSeconds! + i.decompressSeconds!, y: i.ratio!, exact: i.bitExact, index: i.index }));
  if (points.length === 0) return null;
  const [w, h, left, bottom, top, right] = [560, 300, 56, 40, 12, 32];
  const maxX = Math.max(...points.map((p) => p.x)) * 1.1 || 1;
  const maxY = Math.max(1, ...points.map((p) => p.y)) * 1.1;
  const px = (x: number) => (left + (x / maxX) * (w - left - right)).toFixed(1);
  const py = (y: number) => (h - bottom - (y / maxY) * (h - bottom - top)).toFixed(1);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="compression ratio against task time per sample" font-size="11" fill="currentColor">`,
    `<line x1="${left}" y1="${h - bottom}" x2="${w - right}" y2="${h - bottom}" stroke="currentColor"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${h - bottom}" stroke="currentColor"/>`,
    ...ticks.map((t) => `<text x="${px(t * maxX)}" y="${h - bottom + 14}" text-anchor="middle">${(t * maxX).toPrecision(3)}</text>`),
    ...ticks.map((t) => `<text x="${left - 6}" y="${py(t * maxY)}" text-anchor="end" dominant-baseline="middle">${(t * maxY).toPrecision(3)}</text>`),
    `<text x="${(left + w - right) / 2}" y="${h - 6}" text-anchor="middle">task time (s, compress + decompress)</text>`,
    `<text transform="translate(12 ${(top + h - bottom) / 2}) rotate(-90)" text-anchor="middle">compression ratio</text>`,
    ...points.map((p) => `<circle cx="${px(p.x)}" cy="${py(p.y)}" r="4" fill="${p.exact ? '#1a7f37' : '#b42318'}"><title>sample ${p.index}: ratio ${p.y.toFixed(4)}, ${p.x.toFixed(3)} s${p.exact ? ', bit-exact' : ''}</title></circle>`),
    '</svg>',
  ];
  return parts.join('\n');
}

export function renderCompressionReport(r: CompressionResult): string {
  env ??= createReportEnvironment();
  const items = r.payload.items;
  const ok = items.filter((i) => i.failure === null);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const entropies = items.map((i) => i.entropyRatio).filter((x): x is number => x !== null);
  const rows = items.map((i) => ({
    file: i.file,
    kind: i.kind,
    shape: i.shape.join('×'),
    originalBytes: String(i.originalBytes),
    compressedBytes: i.compressedBytes === null ? '—' : String(i.compressedBytes),
    ratio: fixed(i.ratio, 4),
    entropy: i.entropyRatio === null ? 'constant' : `${i.entropyRatio.toFixed(4)} (${i.entropyBitsPerValue.toFixed(3)} bits)`,
    compress: fixed(i.compressSeconds, 3),
    decompress: fixed(i.decompressSeconds, 3),
    serverStart: i.compressServerStartSeconds === null ? '—' : `${fixed(i.compressServerStartSeconds, 3)} / ${fixed(i.decompressServerStartSeconds, 3)}`,
    similarity: fixed(i.similarity, 6),
    bitExact: i.failure !== null ? '—' : i.bitExact ? 'yes' : 'no',
    raw: sig(i.raw),
    normalized: fixed(i.normalized, 6),
    failure: i.failure ?? '',
  }));
  const totals = {
    raw: sig(r.payload.round.raw),
    normalized: fixed(r.payload.round.normalized, 6),
    ratio: fixed(mean(ok.map((i) => i.ratio!)), 4),
    entropyRatio: fixed(mean(entropies), 4),
    seconds: fixed(ok.reduce((s, i) => s + i.compressSeconds! + i.decompressSeconds!, 0), 3),
    similarity: fixed(mean(ok.map((i) => i.similarity!)), 6),
    bitExact: `${items.filter((i) => i.bitExact).length} of ${items.length}`,
    failed: `${items.length - ok.length} of ${items.length}`,
  };
  const verdict = r.verdict ? { cls: r.verdict.passed ? 'status-complete' : 'status-incomplete', text: r.verdict.reason } : null;
  const timingNote =
    r.payload.solution.protocol === 'http'
      ? "each call from writing the request's payload to optibench's driver inside the sandbox to reading its answer (the loopback request included); the server's start up to its first /health answer is shown apart and not scored"
      : 'each call from starting the sandboxed process to its end (the sandbox setup and the solution\'s own start included)';
  return env.render('compression.njk', { r, rows, totals, verdict, chart: ratioTimeChart(items), timingNote });
}
