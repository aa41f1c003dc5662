import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { isBoardDate } from '../../src/leaderboard/dates.js';
import { reportHref } from '../../src/leaderboard/links.js';
import { leaderboardFileSchema, type LeaderboardFile } from '../../src/evaluators/inference/board/schema.js';
import { writeLeaderboardSite } from '../../src/leaderboard/site.js';
import { FixtureDb, tempDir } from './db-fixture.js';
import { buildScenario, HOSTILE } from './scenario.js';

let root: string;
let site: string;
let fixture: FixtureDb;

const readJson = async (file: string): Promise<LeaderboardFile> => leaderboardFileSchema.parse(JSON.parse(await readFile(file, 'utf8')));

beforeAll(() => {
  root = tempDir('leaderboard-site');
  site = path.join(root, 'site');
  fixture = buildScenario(path.join(root, 'results.sqlite'));
});
afterAll(() => fixture.close());

const render = (date: string, now: string) =>
  writeLeaderboardSite({ store: fixture.store, dbFile: fixture.file, outDir: site, date, top: 3, title: 'Round one', now: new Date(now) });

describe('the leaderboard site', () => {
  it('writes index.html and a leaderboard.json that follows its schema and holds the board', async () => {
    await render('2025-03-03', '2025-03-03T06:00:00Z');
    expect((await readdir(site)).sort()).toEqual(['index.html', 'leaderboard.json', 'snapshots']);
    const json = await readJson(path.join(site, 'leaderboard.json'));
    expect(json).toMatchObject({ schema: 'optibench/leaderboard', version: 2, title: 'Round one', date: '2025-03-03', generatedAt: '2025-03-03T06:00:00.000Z', top: 3, round: null, earlier: [] });
    expect(json.ranked.map((r) => [r.team, r.rank, r.advances])).toEqual([
      ['Bravo', 1, true],
      ['Alpha', 1, true],
      ['Charlie', 3, true],
      ['India', 4, false],
      [HOSTILE, 5, false],
    ]);
    expect(json.gateFailed.map((r) => r.team)).toEqual(['Delta']);
    expect(json.pending.map((r) => r.team)).toEqual(['Hotel', 'Golf', 'Echo']);
    expect(json.failed.map((r) => r.team)).toEqual(['Foxtrot']);
  });

  it('links run reports relative to each page: a relative report_path starts at the database folder', async () => {
    const latest = await readJson(path.join(site, 'leaderboard.json'));
    const snapshot = await readJson(path.join(site, 'snapshots', '2025-03-03', 'leaderboard.json'));
    const href = (f: LeaderboardFile, team: string) => f.ranked.find((r) => r.team === team)!.reportHref;
    // Alpha stored "reports/alpha-new" (a folder, relative); Bravo an absolute path to its index.html.
    expect(href(latest, 'Alpha')).toBe('../reports/alpha-new/index.html');
    expect(href(latest, 'Bravo')).toBe('../reports/bravo-1/index.html');
    expect(href(snapshot, 'Alpha')).toBe('../../../reports/alpha-new/index.html');
    expect(href(latest, 'Charlie')).toBeNull();
    const html = await readFile(path.join(site, 'index.html'), 'utf8');
    expect(html).toContain('<a href="../reports/alpha-new/index.html">report</a>');
  });

  it('escapes a hostile team name everywhere on the page', async () => {
    const html = await readFile(path.join(site, 'index.html'), 'utf8');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('onerror="');
    expect(html).not.toContain("'\"Team\"</td>");
    const escaped = '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp; &#39;&quot;Team&quot;&lt;/td&gt;';
    // The table cell, its sort value, and the chart point's tooltip.
    expect(html.split(escaped).length - 1).toBe(3);
    expect(html).toContain(`data-v="${escaped}"`);
    expect(html).toContain(`<span class="team-name">${escaped}</span>`);
    expect(html).toContain(`<title>#5 ${escaped}: 950 ms, acc_norm 40.00 %</title>`);
    expect(JSON.parse(await readFile(path.join(site, 'leaderboard.json'), 'utf8')).ranked[4].team).toBe(HOSTILE);
  });

  it('draws the cut line after the last team that goes on, and writes the figures the board is about', async () => {
    const html = await readFile(path.join(site, 'index.html'), 'utf8');
    expect(html.match(/<tr class="cut">/g)).toHaveLength(1);
    expect(html).toMatch(/<tr data-i="2" class="advances">[\s\S]*?<\/tr>\s*<tr class="cut"><td colspan="10">▲ top 3 go on<\/td><\/tr>\s*<tr data-i="3">/);
    expect(html).toContain(
      '<td data-v="400">400 ms</td>\n<td data-v="2.5" title="against baseline run baseline-1">2.50×</td>\n<td data-v="0.401">40.10 ± 0.49 %</td>\n<td data-v="0.3">30.00 ± 0.46 %</td>',
    );
    expect(html).toContain('>FAIL −2.00</td>');
    expect(html).toContain('>organizer · other machine<br><span class="muted small">Intel Xeon Gold 6230, 8 cores, 64.0 GiB, no GPU</span></td>');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="http|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it("says who timed each figure and where, the members' names (never their addresses), and the one baseline in the header", async () => {
    const json = await readJson(path.join(site, 'leaderboard.json'));
    const html = await readFile(path.join(site, 'index.html'), 'utf8');
    const rows = [...json.ranked, ...json.gateFailed, ...json.pending, ...json.failed];
    // Every row with a run shows an organizer re-run; Echo's last submission has none.
    expect(Object.fromEntries(rows.map((r) => [r.team, r.timedBy]))).toEqual({
      Bravo: 'organizer', Alpha: 'organizer', Charlie: 'organizer', India: 'organizer', [HOSTILE]: 'organizer', Delta: 'organizer', Hotel: 'organizer', Golf: 'organizer', Echo: null, Foxtrot: 'organizer',
    });
    expect(Object.fromEntries(json.ranked.map((r) => [r.team, r.machine]))).toEqual({
      Bravo: 'AMD EPYC 7B13, 32 cores, 360.0 GiB, 4× Tesla V100-SXM2-32GB', Alpha: null, Charlie: 'Intel Xeon Gold 6230, 8 cores, 64.0 GiB, no GPU', India: null, [HOSTILE]: null,
    });
    expect(html).toContain('<td data-v="organizer · reference" class="timed machine-reference">organizer · reference<br><span class="muted small">AMD EPYC 7B13, 32 cores, 360.0 GiB, 4× Tesla V100-SXM2-32GB</span></td>');
    expect(html).toContain('<th data-sort="text" title="who measured the time (the organizer\'s re-run, or the team\'s own run), and on which machine">timed by</th>');
    expect(json.ranked.find((r) => r.team === 'Alpha')!.members).toEqual(['Ada Lovelace', 'Alan Turing']);
    expect(html).toContain('<span class="team-name">Alpha</span><br><span class="muted small members">Ada Lovelace, Alan Turing</span>');
    expect(`${html}${JSON.stringify(json)}`).not.toContain('ada@example.org');
    // One baseline for every judged row: named once, with its own time (1000 ms), and no column for it.
    expect(json.baseline).toEqual({ runId: 'baseline-1', medianMs: 1000 });
    expect(rows.filter((r) => r.baseline !== null).map((r) => r.team).sort()).toEqual(['Alpha', 'Bravo', 'Charlie', 'Delta', HOSTILE, 'India'].sort());
    expect(html).toContain('<p class="meta" id="baseline">Every speedup is against the baseline run <code>baseline-1</code>, timed by the organizer: median inference <strong>1.00 s</strong>.</p>');
    expect(html).not.toContain('>baseline</th>');
  });

  it('keeps earlier days as snapshots and links them from the next board', async () => {
    const first = await readFile(path.join(site, 'snapshots', '2025-03-03', 'index.html'), 'utf8');
    await render('2025-03-04', '2025-03-04T06:00:00Z');
    expect((await readdir(path.join(site, 'snapshots'))).sort()).toEqual(['2025-03-03', '2025-03-04']);
    // Yesterday's snapshot is left exactly as it was.
    expect(await readFile(path.join(site, 'snapshots', '2025-03-03', 'index.html'), 'utf8')).toBe(first);
    expect((await readJson(path.join(site, 'snapshots', '2025-03-03', 'leaderboard.json'))).generatedAt).toBe('2025-03-03T06:00:00.000Z');
    const latest = await readFile(path.join(site, 'index.html'), 'utf8');
    expect(latest).toContain('<a href="snapshots/2025-03-03/index.html" class="earlier">2025-03-03</a>');
    expect(latest).toContain('<a href="snapshots/2025-03-04/index.html" id="permalink">');
    const today = await readFile(path.join(site, 'snapshots', '2025-03-04', 'index.html'), 'utf8');
    expect(today).toContain('<a href="../2025-03-03/index.html" class="earlier">2025-03-03</a>');
    expect(today).toContain('<a href="../../index.html" id="latest-link">latest board</a>');
    expect((await readJson(path.join(site, 'leaderboard.json'))).earlier).toEqual(['2025-03-03']);
  });

  it('renders the same day again in place, and refuses a day older than the newest snapshot', async () => {
    await render('2025-03-04', '2025-03-04T07:00:00Z');
    expect((await readJson(path.join(site, 'snapshots', '2025-03-04', 'leaderboard.json'))).generatedAt).toBe('2025-03-04T07:00:00.000Z');
    const older = render('2025-03-02', '2025-03-04T08:00:00Z');
    await expect(older).rejects.toThrow(OptibenchError);
    await expect(older).rejects.toThrow('this site already holds the board of 2025-03-04, newer than 2025-03-02');
    expect(existsSync(path.join(site, 'snapshots', '2025-03-02'))).toBe(false);
    expect((await readJson(path.join(site, 'leaderboard.json'))).date).toBe('2025-03-04');
  });

  it('says so when no team is ranked yet', async () => {
    const empty = new FixtureDb(path.join(tempDir('leaderboard-empty'), 'results.sqlite'));
    try {
      const out = path.join(path.dirname(empty.file), 'site');
      await writeLeaderboardSite({ store: empty.store, dbFile: empty.file, outDir: out, date: '2025-03-01' });
      const html = await readFile(path.join(out, 'index.html'), 'utf8');
      expect(html).toContain('<p>No team is ranked yet.</p>');
      expect(html).not.toContain('<svg');
      expect((await readJson(path.join(out, 'leaderboard.json'))).top).toBe(10);
    } finally {
      empty.close();
    }
  });
});

describe('dates and links', () => {
  it('accepts real calendar days only', () => {
    expect(['2025-03-04', '2024-02-29'].map(isBoardDate)).toEqual([true, true]);
    expect(['2025-02-29', '2025-13-01', '2025-3-4', '2025-03-04T00:00Z', ''].map(isBoardDate)).toEqual([false, false, false, false, false]);
  });

  it('keeps http(s) report URLs and encodes path segments', () => {
    expect(reportHref('https://runs.example/r/1/', '/site', '/db')).toBe('https://runs.example/r/1/');
    expect(reportHref('/data/reports/run #1?x/index.html', '/data/site', '/db')).toBe('../reports/run%20%231%3Fx/index.html');
    expect(reportHref(null, '/site', '/db')).toBeNull();
  });
});
