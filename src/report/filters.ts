/**
 * Number formatting for reports. Locale-free on purpose: a report must read the same whichever machine
 * rendered it, and tests compare against fixed strings.
 */
import type { Environment } from 'nunjucks';
import { describeCpuIdentity } from '../core/environment.js';

const MISSING = '—';

/** 3 significant digits, never in exponent notation: 12.3, 1.23, 123, 0.500. */
function significant3(x: number): string {
  const rounded = Number(x.toPrecision(3));
  if (rounded === 0) return '0';
  const decimals = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(rounded))));
  return rounded.toFixed(decimals);
}

/** `12.3` -> `12.3 ms`, `1234.5` -> `1.23 s`, `125000` -> `2 min 5 s`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return MISSING;
  // Decide the unit on the rounded value so that 999.7 ms reads `1.00 s`, not `1000 ms`.
  if (Math.abs(Number(ms.toPrecision(3))) < 1000) return `${significant3(ms)} ms`;
  const seconds = ms / 1000;
  if (Math.abs(Number(seconds.toPrecision(3))) < 60) return `${significant3(seconds)} s`;
  const total = Math.round(seconds);
  const sign = total < 0 ? '-' : '';
  const abs = Math.abs(total);
  if (abs < 3600) return `${sign}${Math.floor(abs / 60)} min ${abs % 60} s`;
  return `${sign}${Math.floor(abs / 3600)} h ${Math.floor((abs % 3600) / 60)} min`;
}

/** A proportion and its standard error as percentages: `0.2512, 0.0043` -> `25.12 ± 0.43`. */
export function formatPercentStderr(value: number, stderr: number | null): string {
  if (!Number.isFinite(value)) return MISSING;
  const pct = (value * 100).toFixed(2);
  return stderr !== null && Number.isFinite(stderr) ? `${pct} ± ${(stderr * 100).toFixed(2)}` : pct;
}

const KiB = 1024;
const MiB = KiB * 1024;
const GiB = MiB * 1024;

/** Binary units, as memory is sized: `1.50 GiB`, `512.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return MISSING;
  const abs = Math.abs(bytes);
  if (abs >= GiB) return `${(bytes / GiB).toFixed(2)} GiB`;
  if (abs >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  if (abs >= KiB) return `${(bytes / KiB).toFixed(1)} KiB`;
  return `${Math.round(bytes)} B`;
}

/** `10042` -> `10,042`. */
export function formatInt(n: number): string {
  if (!Number.isFinite(n)) return MISSING;
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Fixed decimals, for rates and log-likelihoods: `formatFixed(12.345, 1)` -> `12.3`. */
export function formatFixed(n: number, decimals = 2): string {
  return Number.isFinite(n) ? n.toFixed(decimals) : MISSING;
}

/** Pretty JSON for `<pre>` blocks; `undefined` has no JSON form and reads as missing. */
export function formatJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, null, indent) ?? MISSING;
}

/** A fact's value in a key/value table: strings bare, everything else as compact JSON. */
export function formatFact(value: unknown): string {
  return typeof value === 'string' ? value : formatJson(value, 0);
}

/** ISO timestamp -> `2025-03-04 05:06:07 UTC`; anything unparsable is shown as given. */
export function formatDateTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function registerFilters(env: Environment): void {
  env.addFilter('ms', formatMs);
  env.addFilter('pct', formatPercentStderr);
  env.addFilter('bytes', formatBytes);
  env.addFilter('int', formatInt);
  env.addFilter('fixed', formatFixed);
  env.addFilter('json', formatJson);
  env.addFilter('fact', formatFact);
  env.addFilter('datetime', formatDateTime);
  env.addFilter('cpuIdentity', describeCpuIdentity);
}
