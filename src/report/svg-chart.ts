/**
 * The reports' charts, drawn at render time as inline SVG: a report stays one standalone file that opens
 * offline, with no script and no library in the page. Each function returns finished SVG markup whose text is
 * escaped here (labels can be team or plugin names); colours come from the page's CSS classes, so dark mode and
 * print follow the page. Chosen over vega-lite rendered server-side: the reports need four plain chart kinds,
 * the leaderboard and compression charts were already hand-drawn SVG, and vega would add some thirty packages
 * (vega-*, d3-*) whose text measuring in Node without a canvas is an estimate anyway.
 */
import { niceScale, timeTicks, type Scale } from './chart-scale.js';

/*
 * Text is measured here without a browser, so the estimates err on the wide side. The charts' font is 12 px
 * system-ui; the figures are DejaVu Sans's (Debian's system-ui, and among the wider sans faces) as chromium lays
 * it out, rounded up per class of character: a label estimated clear of another is clear on the page.
 */
const NARROW = new Set(" 'ijlfIJ,.:;|/\\");
const SEMI = new Set('-()[]tr!"');
const WIDE = new Set('ABCDGHKNOQRUVXZ&');
const WIDEST = new Set('mwxMW%@#+<=>^~');
/** Above and below the baseline: DejaVu Sans at 12 px spans 11.25 px up and 2.81 down. */
const ASCENT = 11.5;
const DESCENT = 3.5;
const TEXT_HEIGHT = ASCENT + DESCENT;

/** About how wide `text` is at the charts' 12 px, never less than chromium draws it with DejaVu Sans. */
export function textWidth(text: string): number {
  let width = 0;
  for (const c of text) {
    const code = c.codePointAt(0)!;
    if (NARROW.has(c)) width += 4.2;
    else if (SEMI.has(c)) width += 4.9;
    else if (WIDE.has(c)) width += 9.5;
    else if (WIDEST.has(c) || (code > 126 && code <= 0xff)) width += 12.1;
    // Past Latin-1 a glyph can be much wider (Œ 12.8, ‰ 16.1, Ǆ 17.1 px) or come from another face (emoji).
    else if (code > 0xff) width += 17.5;
    else width += 7.7;
  }
  return width;
}

/** The box a start-anchored text at (x, baseline) takes. */
export function textBox(x: number, baseline: number, text: string): Box {
  return { x, y: baseline - ASCENT, width: textWidth(text), height: TEXT_HEIGHT };
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const n = (x: number) => String(Number(x.toFixed(1)));

interface Plot {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

function open(width: number, height: number, title: string, kind: string): string {
  return `<svg class="chart chart-${kind}" viewBox="0 0 ${width} ${height}" role="img"><title>${escapeXml(title)}</title>`;
}

const project = (value: number, scale: Pick<Scale, 'min' | 'max'>, from: number, to: number) => from + ((value - scale.min) / (scale.max - scale.min || 1)) * (to - from);

function xAxis(plot: Plot, ticks: readonly { at: number; label: string }[], label: string, height: number): string {
  const parts = ticks.map((t) => `<line class="grid" x1="${n(t.at)}" x2="${n(t.at)}" y1="${plot.top}" y2="${plot.bottom}"/><text x="${n(t.at)}" y="${plot.bottom + 16}" text-anchor="middle">${escapeXml(t.label)}</text>`);
  parts.push(`<line class="axis" x1="${plot.left}" x2="${plot.right}" y1="${plot.bottom}" y2="${plot.bottom}"/>`);
  parts.push(`<text class="axis-label" x="${n((plot.left + plot.right) / 2)}" y="${height - 6}" text-anchor="middle">${escapeXml(label)}</text>`);
  return parts.join('');
}

function yAxis(plot: Plot, ticks: readonly { at: number; label: string }[], label: string): string {
  const parts = ticks.map((t) => `<line class="grid" x1="${plot.left}" x2="${plot.right}" y1="${n(t.at)}" y2="${n(t.at)}"/><text x="${plot.left - 6}" y="${n(t.at + 4)}" text-anchor="end">${escapeXml(t.label)}</text>`);
  parts.push(`<line class="axis" x1="${plot.left}" x2="${plot.left}" y1="${plot.top}" y2="${plot.bottom}"/>`);
  parts.push(`<text class="axis-label" transform="translate(14 ${n((plot.top + plot.bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(label)}</text>`);
  return parts.join('');
}

/** A label cut to `max` characters, with an ellipsis: the full text stays in the mark's tooltip. */
export function shorten(text: string, max: number): string {
  return [...text].length <= max ? text : `${[...text].slice(0, max - 1).join('')}…`;
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** An interval around the value (an error bar), when it has one. */
  readonly low?: number;
  readonly high?: number;
  /** A CSS class for the mark (`good`, `bad`, `neutral`, `baseline`). */
  readonly kind?: string;
  /** The text printed after the bar; the formatted value when left out. */
  readonly text?: string;
}

export interface BarChartSpec {
  readonly title: string;
  readonly axisLabel: string;
  readonly bars: readonly Bar[];
  readonly format: (value: number) => string;
  /** Vertical reference lines (1× speedup, the gate's allowed drop, chance level). */
  readonly rules?: readonly { readonly value: number; readonly label: string; readonly kind?: string }[];
  /** `dot`: a point with its interval, for estimates; `bar`: a bar from 0. */
  readonly style?: 'bar' | 'dot';
  /** Values the axis must include besides the bars' (0 always is, for bars). */
  readonly include?: readonly number[];
}

/** Horizontal bars (or dots with intervals), one row per entry, labelled at the left. */
export function barChart(spec: BarChartSpec): string {
  const style = spec.style ?? 'bar';
  const labelChars = Math.min(28, Math.max(4, ...spec.bars.map((b) => [...b.label].length)));
  const labelWidth = Math.max(textWidth('0000'), ...spec.bars.map((b) => textWidth(shorten(b.label, labelChars))));
  const valueWidth = Math.max(textWidth('0000'), ...spec.bars.map((b) => textWidth(b.text ?? spec.format(b.value))));
  const width = 720;
  const row = 26;
  const rules = spec.rules ?? [];
  // One line per rule label above the plot: two close rules never print over each other or over a tick.
  const top = 10 + 14 * rules.length;
  const plot: Plot = { left: 12 + labelWidth, right: width - 16 - valueWidth, top, bottom: top + row * spec.bars.length };
  const height = plot.bottom + 40;
  const values = spec.bars.flatMap((b) => [b.value, b.low ?? b.value, b.high ?? b.value]);
  values.push(...rules.map((r) => r.value), ...(spec.include ?? []));
  if (style === 'bar') values.push(0);
  const scale = niceScale(Math.min(...values), Math.max(...values), 5);
  const x = (v: number) => project(v, scale, plot.left, plot.right);
  const ticks = scale.ticks.map((t) => ({ at: x(t), label: spec.format(t) }));
  const parts = [open(width, height, spec.title, style === 'bar' ? 'bars' : 'dots'), xAxis(plot, ticks, spec.axisLabel, height)];
  spec.bars.forEach((b, i) => {
    const mid = plot.top + row * i + row / 2;
    const tip = `${b.label}: ${b.text ?? spec.format(b.value)}`;
    const cls = escapeXml(b.kind ?? 'neutral');
    parts.push(`<g class="row"><text x="${plot.left - 6}" y="${n(mid + 4)}" text-anchor="end">${escapeXml(shorten(b.label, labelChars))}</text>`);
    if (style === 'bar') {
      const [from, to] = [x(Math.min(0, b.value)), x(Math.max(0, b.value))];
      parts.push(`<rect class="bar ${cls}" x="${n(from)}" y="${n(mid - 8)}" width="${n(Math.max(0.5, to - from))}" height="16"><title>${escapeXml(tip)}</title></rect>`);
    } else {
      parts.push(`<circle class="dot ${cls}" cx="${n(x(b.value))}" cy="${n(mid)}" r="5"><title>${escapeXml(tip)}</title></circle>`);
    }
    if (b.low !== undefined && b.high !== undefined) {
      const [lo, hi] = [x(b.low), x(b.high)];
      parts.push(`<path class="whisker" d="M${n(lo)} ${n(mid)}H${n(hi)}M${n(lo)} ${n(mid - 5)}V${n(mid + 5)}M${n(hi)} ${n(mid - 5)}V${n(mid + 5)}"/>`);
    }
    const end = Math.max(x(b.value), b.high === undefined ? 0 : x(b.high), style === 'bar' ? x(0) : 0);
    parts.push(`<text class="value" x="${n(end + 6)}" y="${n(mid + 4)}">${escapeXml(b.text ?? spec.format(b.value))}</text></g>`);
  });
  rules.forEach((r, i) => {
    const at = x(r.value);
    const y = 12 + 14 * i;
    const anchor = at > (plot.left + plot.right) / 2 ? 'end' : 'start';
    parts.push(`<line class="rule ${escapeXml(r.kind ?? '')}" x1="${n(at)}" x2="${n(at)}" y1="${y + 2}" y2="${plot.bottom}"/>`);
    parts.push(`<text class="rule-label ${escapeXml(r.kind ?? '')}" x="${n(at + (anchor === 'start' ? 4 : -4))}" y="${y}" text-anchor="${anchor}">${escapeXml(r.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface HistogramSpec {
  readonly title: string;
  readonly axisLabel: string;
  /** Milliseconds. */
  readonly values: readonly number[];
  /** Vertical markers (p50, p90, p99). */
  readonly markers: readonly { readonly value: number; readonly label: string }[];
}

/** Equal-width bins over the values' range: about √n of them, at most 40, on a time axis. */
export function histogramBins(values: readonly number[]): { from: number; to: number; count: number }[] {
  const min = Math.min(...values);
  const max = Math.max(...values);
  const bins = Math.max(1, Math.min(40, Math.ceil(Math.sqrt(values.length))));
  const width = max > min ? (max - min) / bins : 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v - min) / width))]! += 1;
  return counts.map((count, i) => ({ from: min + i * width, to: min + (i + 1) * width, count }));
}

export function histogram(spec: HistogramSpec): string | null {
  if (spec.values.length === 0) return null;
  const bins = histogramBins(spec.values);
  const width = 720;
  const height = 280;
  const plot: Plot = { left: 56, right: width - 32, top: 44, bottom: height - 44 };
  const xs = niceScale(bins[0]!.from, bins[bins.length - 1]!.to, 6);
  const ys = niceScale(0, Math.max(...bins.map((b) => b.count)), 4);
  const x = (v: number) => project(v, xs, plot.left, plot.right);
  const y = (v: number) => project(v, ys, plot.bottom, plot.top);
  const parts = [
    open(width, height, spec.title, 'histogram'),
    xAxis(plot, timeTicks(xs).map((t) => ({ ...t, at: x(t.at) })), spec.axisLabel, height),
    yAxis(plot, ys.ticks.filter((t) => Number.isInteger(t)).map((t) => ({ at: y(t), label: String(t) })), 'batches'),
  ];
  for (const b of bins) {
    const [x0, x1] = [x(b.from), x(b.to)];
    parts.push(`<rect class="bin" x="${n(x0)}" y="${n(y(b.count))}" width="${n(Math.max(0.5, x1 - x0 - 1))}" height="${n(plot.bottom - y(b.count))}"><title>${b.count} batch${b.count === 1 ? '' : 'es'} of ${escapeXml(formatAxisMs(b.from))} to ${escapeXml(formatAxisMs(b.to))}</title></rect>`);
  }
  spec.markers.forEach((m, i) => {
    const at = x(m.value);
    parts.push(`<line class="marker" x1="${n(at)}" x2="${n(at)}" y1="${12 + i * 12}" y2="${plot.bottom}"/>`);
    // One line each above the plot: close percentiles (p90 and p99 often are) stay readable.
    parts.push(`<text class="marker-label" x="${n(at + 3)}" y="${10 + i * 12}" text-anchor="${at > plot.right - 80 ? 'end' : 'start'}">${escapeXml(m.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function formatAxisMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(3)} s` : `${ms.toFixed(ms >= 100 ? 0 : 2)} ms`;
}

export interface LineChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** x in milliseconds (a time axis), y from 0. */
  readonly points: readonly { readonly x: number; readonly y: number }[];
  readonly yFormat: (value: number) => string;
  readonly rules?: readonly { readonly value: number; readonly label: string }[];
}

/** A line over a time axis from 0, y from 0 (a throughput never reads as bigger than it is). */
export function lineChart(spec: LineChartSpec): string | null {
  if (spec.points.length === 0) return null;
  const width = 720;
  const height = 260;
  const plot: Plot = { left: 64, right: width - 32, top: 16, bottom: height - 44 };
  const xs = niceScale(0, Math.max(...spec.points.map((p) => p.x)), 6);
  const ys = niceScale(0, Math.max(...spec.points.map((p) => p.y), ...(spec.rules ?? []).map((r) => r.value)), 4);
  const x = (v: number) => project(v, xs, plot.left, plot.right);
  const y = (v: number) => project(v, ys, plot.bottom, plot.top);
  const parts = [
    open(width, height, spec.title, 'line'),
    xAxis(plot, timeTicks(xs).map((t) => ({ ...t, at: x(t.at) })), spec.xLabel, height),
    yAxis(plot, ys.ticks.map((t) => ({ at: y(t), label: spec.yFormat(t) })), spec.yLabel),
    `<polyline class="line" points="${spec.points.map((p) => `${n(x(p.x))},${n(y(p.y))}`).join(' ')}"/>`,
  ];
  for (const r of spec.rules ?? []) {
    parts.push(`<line class="rule" x1="${plot.left}" x2="${plot.right}" y1="${n(y(r.value))}" y2="${n(y(r.value))}"/><text class="rule-label" x="${plot.right - 4}" y="${n(y(r.value) - 5)}" text-anchor="end">${escapeXml(r.label)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

const overlaps = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

export interface PlacedLabel {
  /** Where the text starts (its anchor is `start`) and its baseline. */
  readonly x: number;
  readonly y: number;
  readonly box: Box;
  /** Whether the label had to go further out than next to its point (then a leader line joins them). */
  readonly leader: boolean;
}

/**
 * Places one label per point so that no two labels overlap each other or any point, inside `bounds`: each
 * label tries eight spots around its point, then the same further out, and takes the first free one (points
 * in the order given, so earlier ones get the nearest spots). Returns null for a label no spot fits; the
 * caller lists it instead.
 */
export function placeLabels(
  points: readonly { readonly cx: number; readonly cy: number; readonly text: string }[],
  bounds: Box,
  radius = 6,
  obstacles: readonly Box[] = [],
): (PlacedLabel | null)[] {
  const taken: Box[] = [...obstacles];
  // Other points keep a wider berth than the label's own: a label right beside another point reads as its.
  const berth = radius + 6;
  const around = (p: { cx: number; cy: number }, r: number): Box => ({ x: p.cx - r, y: p.cy - r, width: 2 * r, height: 2 * r });
  const inside = (b: Box) => b.x >= bounds.x && b.y >= bounds.y && b.x + b.width <= bounds.x + bounds.width && b.y + b.height <= bounds.y + bounds.height;
  return points.map((p, i) => {
    const blocked = [...points.map((q, j) => around(q, j === i ? radius : berth))];
    const w = textWidth(p.text);
    const h = TEXT_HEIGHT;
    for (const distance of [radius + 3, radius + 18, radius + 34, radius + 52, radius + 74, radius + 100]) {
      const spots: [number, number][] = [
        [distance, -h / 2 - distance / 2], // right, a little up
        [distance, -h / 2 + distance / 2], // right, a little down
        [-distance - w, -h / 2 - distance / 2],
        [-distance - w, -h / 2 + distance / 2],
        [-w / 2, -distance - h],
        [-w / 2, distance],
        [distance, -h / 2],
        [-distance - w, -h / 2],
      ];
      for (const [dx, dy] of spots) {
        const box = { x: p.cx + dx, y: p.cy + dy, width: w, height: h };
        if (!inside(box) || taken.some((t) => overlaps(t, box)) || blocked.some((t) => overlaps(t, box))) continue;
        taken.push(box);
        return { x: box.x, y: box.y + ASCENT, box, leader: distance > radius + 3 };
      }
    }
    return null;
  });
}

export interface ScatterPoint {
  readonly x: number;
  readonly y: number;
  readonly label: string;
  readonly kind: string;
  /** Tooltip. */
  readonly title: string;
  readonly low?: number;
  readonly high?: number;
}

export interface ScatterSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** x in milliseconds, from 0. */
  readonly points: readonly ScatterPoint[];
  readonly yFormat: (value: number) => string;
  readonly hLine?: { readonly value: number; readonly label: string } | null;
}

/**
 * Points on a time axis from 0 against a value axis that never goes below 0, each labelled beside it without
 * overlaps (see placeLabels); a label that finds no room is left off the chart and listed under it by the
 * caller (the returned `unlabelled`).
 */
export function scatterChart(spec: ScatterSpec): { svg: string; unlabelled: string[] } | null {
  if (spec.points.length === 0) return null;
  const width = 720;
  const height = 360;
  const plot: Plot = { left: 64, right: width - 32, top: 16, bottom: height - 48 };
  const ys = spec.points.flatMap((p) => [p.y, p.low ?? p.y, p.high ?? p.y]);
  if (spec.hLine) ys.push(spec.hLine.value);
  const spread = Math.max(...ys) - Math.min(...ys);
  const pad = Math.max(spread * 0.1, Math.abs(Math.max(...ys)) * 0.01, 1e-9);
  const yScale = niceScale(Math.max(0, Math.min(...ys) - pad), Math.max(...ys) + pad, 5);
  const xScale = niceScale(0, Math.max(...spec.points.map((p) => p.x)) * 1.05, 6);
  const x = (v: number) => project(v, xScale, plot.left, plot.right);
  const y = (v: number) => project(v, yScale, plot.bottom, plot.top);
  const parts = [
    open(width, height, spec.title, 'scatter'),
    xAxis(plot, timeTicks(xScale).map((t) => ({ ...t, at: x(t.at) })), spec.xLabel, height),
    yAxis(plot, yScale.ticks.map((t) => ({ at: y(t), label: spec.yFormat(t) })), spec.yLabel),
  ];
  const obstacles: Box[] = [];
  if (spec.hLine) {
    const at = y(spec.hLine.value);
    // At the left end: the time axis starts at 0, so points seldom sit there.
    obstacles.push(textBox(plot.left + 4, at - 5, spec.hLine.label));
    parts.push(`<line class="gate-line" x1="${plot.left}" x2="${plot.right}" y1="${n(at)}" y2="${n(at)}"/><text class="gate-label" x="${plot.left + 4}" y="${n(at - 5)}">${escapeXml(spec.hLine.label)}</text>`);
  }
  const placed = spec.points.map((p) => ({ cx: x(p.x), cy: y(p.y), text: p.label }));
  // Error bars are obstacles too: a label across one hides it and seems to belong to it.
  for (const [i, p] of spec.points.entries()) {
    if (p.low !== undefined && p.high !== undefined) obstacles.push({ x: placed[i]!.cx - 1.5, y: y(p.high), width: 3, height: y(p.low) - y(p.high) });
  }
  // The gate line's label is an obstacle like the points: no point label is printed over it.
  const labels = placeLabels(placed, { x: plot.left + 2, y: plot.top, width: plot.right - plot.left - 2, height: plot.bottom - plot.top }, 6, obstacles);
  const unlabelled: string[] = [];
  spec.points.forEach((p, i) => {
    const { cx, cy } = placed[i]!;
    const label = labels[i];
    parts.push(`<g class="point">`);
    if (p.low !== undefined && p.high !== undefined) parts.push(`<path class="whisker" d="M${n(cx)} ${n(y(p.low))}V${n(y(p.high))}"/>`);
    parts.push(`<circle class="${escapeXml(p.kind)}" cx="${n(cx)}" cy="${n(cy)}" r="5.5"><title>${escapeXml(p.title)}</title></circle>`);
    if (label) {
      if (label.leader) parts.push(`<line class="leader" x1="${n(cx)}" y1="${n(cy)}" x2="${n(label.box.x + (label.box.x > cx ? 0 : label.box.width))}" y2="${n(label.box.y + label.box.height / 2)}"/>`);
      parts.push(`<text class="point-label" x="${n(label.x)}" y="${n(label.y)}">${escapeXml(p.label)}</text>`);
    } else unlabelled.push(p.label);
    parts.push('</g>');
  });
  parts.push('</svg>');
  return { svg: parts.join('\n'), unlabelled };
}
