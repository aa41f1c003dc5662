/**
 * Axis scales for the reports' SVG charts: tick values a reader can add up in their head (1, 2 or 5 times a
 * power of ten) and time labels in one unit per axis.
 */

export interface Scale {
  readonly min: number;
  readonly max: number;
  readonly step: number;
  readonly ticks: readonly number[];
  readonly decimals: number;
}

/** Tick values at 1, 2 or 5 times a power of ten, about `count` of them, with the domain widened to whole steps. */
export function niceScale(min: number, max: number, count = 5): Scale {
  const span = max > min ? max - min : Math.max(Math.abs(max), 1);
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const round = (x: number) => Number(x.toFixed(decimals));
  const lo = round(Math.floor(min / step) * step);
  let hi = round(Math.ceil(max / step) * step);
  if (hi === lo) hi = round(lo + step);
  const ticks: number[] = [];
  for (let i = 0; round(lo + i * step) <= hi; i++) ticks.push(round(lo + i * step));
  return { min: lo, max: hi, step, ticks, decimals };
}

/** Time tick labels in one unit for the whole axis (ms below a second, else s), with the decimals the step needs. */
export function timeTicks(scale: Scale): { at: number; label: string }[] {
  const seconds = scale.max > 1000;
  const decimals = seconds ? Math.max(0, 3 - Math.floor(Math.log10(scale.step))) : scale.decimals;
  return scale.ticks.map((t) => ({ at: t, label: seconds ? `${(t / 1000).toFixed(decimals)} s` : `${t.toFixed(decimals)} ms` }));
}
