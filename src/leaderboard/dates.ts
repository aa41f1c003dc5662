/**
 * Board dates and the snapshot folders named after them. A date is a UTC calendar day: the board is
 * published every morning, and a day named in UTC reads the same wherever it is rendered.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** True for a real calendar day written YYYY-MM-DD (2025-02-30 is not one). */
export function isBoardDate(value: string): boolean {
  const m = DAY.exec(value);
  if (!m) return false;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return date.toISOString().slice(0, 10) === value;
}

export function utcDay(now: Date): string {
  return now.toISOString().slice(0, 10);
}

export const SNAPSHOTS_DIR = 'snapshots';

/** The days that already have a snapshot under `<site>/snapshots/`, newest first; other entries are ignored. */
export async function snapshotDays(siteDir: string): Promise<string[]> {
  const dir = path.join(siteDir, SNAPSHOTS_DIR);
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && isBoardDate(e.name) && existsSync(path.join(dir, e.name, 'index.html')))
    .map((e) => e.name)
    .sort()
    .reverse();
}
