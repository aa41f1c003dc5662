/** Run ids: the start time (UTC, sortable), what ran, and a random suffix so two runs in one second differ. */
import { randomBytes } from 'node:crypto';

export function newRunId(label: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${stamp}-${label}-${randomBytes(3).toString('hex')}`;
}
