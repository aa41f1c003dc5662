/**
 * Links from a leaderboard page to run reports. `runs.report_path` is whatever the run's writer stored: an
 * http(s) URL is kept; a file path (a relative one is taken from the database's folder, where the tools that
 * write runs keep their reports) becomes a link relative to the page, so the site and the reports can be moved
 * or archived together.
 */
import path from 'node:path';

export function reportHref(reportPath: string | null, pageDir: string, dbDir: string): string | null {
  if (reportPath === null || reportPath === '') return null;
  if (/^https?:\/\//i.test(reportPath)) return reportPath;
  const absolute = path.resolve(dbDir, reportPath);
  // A report folder opened from disk shows a listing, not the report: point at its page.
  const page = absolute.endsWith('.html') ? absolute : path.join(absolute, 'index.html');
  return relativeHref(pageDir, page);
}

/** A relative link from a folder to a file, each segment URL-encoded (run ids and folders may hold `#` or `?`). */
export function relativeHref(fromDir: string, target: string): string {
  return path
    .relative(fromDir, target)
    .split(path.sep)
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}
