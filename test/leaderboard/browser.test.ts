/**
 * The leaderboard in a real browser: Debian's chromium, headless, driven by playwright-core, loading the site
 * over HTTP as it would be published. Fails (never skips) when chromium is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchFile } from '../../src/evaluators/inference/bench-schema.js';
import type { CompareFile } from '../../src/evaluators/inference/compare-schema.js';
import { readResultsFile } from '../../src/evaluators/inference/results-file.js';
import type { InferenceResult } from '../../src/evaluators/inference/results.js';
import { writeLeaderboardSite } from '../../src/leaderboard/site.js';
import { scatterChart, textBox } from '../../src/report/svg-chart.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { FixtureDb, tempDir } from './db-fixture.js';
import { buildOddBaselines, buildScenario, HOSTILE } from './scenario.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.join(REPO_ROOT, 'test-output', 'leaderboard.png');
/** Full-page screenshots of the run, compare, bench and leaderboard pages, to look at. */
const SHOTS = path.join(REPO_ROOT, 'test-output', 'pages');

let root: string;
let server: http.Server;
let base: string;
let browser: Browser;
let page: Page;
const problems: string[] = [];
let dialogs = 0;

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.json': 'application/json' };

/** A plain static file server over the scenario's folder: the site and the run reports beside it. */
function serve(dir: string): Promise<string> {
  server = http.createServer((request, response) => {
    const file = path.join(dir, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname));
    readFile(file).then(
      (body) => {
        response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
        response.end(body);
      },
      () => {
        response.writeHead(404);
        response.end();
      },
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

async function rankedTeams(): Promise<string[]> {
  return page.locator('#ranked tbody tr[data-i] .team-name').allTextContents();
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser test needs Debian's chromium (test/setup/install-system-deps.sh installs it)`);
  root = tempDir('leaderboard-browser');
  const fixture = buildScenario(path.join(root, 'results.sqlite'));
  try {
    // Alpha's report exists, so its link is followed for real.
    await mkdir(path.join(root, 'reports', 'alpha-new'), { recursive: true });
    await writeFile(path.join(root, 'reports', 'alpha-new', 'index.html'), '<!doctype html><title>alpha-new</title><link rel="icon" href="data:,"><h1>run alpha-new</h1>');
    const site = { store: fixture.store, dbFile: fixture.file, outDir: path.join(root, 'site'), top: 3 };
    await writeLeaderboardSite({ ...site, date: '2025-03-03' });
    await writeLeaderboardSite({ ...site, date: '2025-03-04' });
  } finally {
    fixture.close();
  }
  const odd = new FixtureDb(path.join(root, 'odd.sqlite'));
  try {
    buildOddBaselines(odd);
    await writeLeaderboardSite({ store: odd.store, dbFile: odd.file, outDir: path.join(root, 'odd-site'), top: 3, date: '2025-03-04' });
  } finally {
    odd.close();
  }
  base = await serve(root);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()} on ${page.url()}: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  page.on('dialog', (dialog) => {
    dialogs++;
    void dialog.dismiss();
  });
  const response = await page.goto(`${base}/site/index.html`, { waitUntil: 'load' });
  expect(response?.status()).toBe(200);
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

describe('the leaderboard page in chromium', () => {
  it('renders the ranked rows in board order, with the cut line after the top 3', async () => {
    expect(await page.title()).toBe('optibench leaderboard · 2025-03-04');
    expect(await rankedTeams()).toEqual(['Bravo', 'Alpha', 'Charlie', 'India', HOSTILE]);
    expect(await page.locator('#ranked tbody tr[data-i] td:first-child').evaluateAll((cells) => cells.map((c) => c.getAttribute('data-v')))).toEqual(['1', '1', '3', '4', '5']);
    const cut = page.locator('#ranked tr.cut');
    await expect(cut.isVisible()).resolves.toBe(true);
    expect(await cut.evaluate((row) => row.previousElementSibling?.getAttribute('data-i'))).toBe('2');
    expect(await page.locator('#gate-failed-table .team-name').allTextContents()).toEqual(['Delta']);
    expect(await page.locator('#pending-table .team-name').allTextContents()).toEqual(['Hotel', 'Golf', 'Echo']);
    expect(await page.locator('#failed-table .team-name').allTextContents()).toEqual(['Foxtrot']);
  });

  it('shows the hostile team name as text: no element, no script from it', async () => {
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toBe(0);
    expect(await page.locator('#ranked tbody tr[data-i="4"] .team-name').evaluate((el) => el.childNodes.length)).toBe(1);
  });

  it('sorts by a column when its header is clicked, and back', async () => {
    const header = (name: string) => page.locator('#ranked thead th', { hasText: new RegExp(`^${name}$`) });
    // acc_norm: India 39.7, Alpha 39.8, hostile 40.0, Bravo 40.1, Charlie 40.2.
    await header('acc_norm').click();
    expect(await rankedTeams()).toEqual(['India', 'Alpha', HOSTILE, 'Bravo', 'Charlie']);
    expect(await header('acc_norm').getAttribute('aria-sort')).toBe('ascending');
    await expect(page.locator('#ranked tr.cut').isVisible()).resolves.toBe(false);
    await header('acc_norm').click();
    expect(await rankedTeams()).toEqual(['Charlie', 'Bravo', HOSTILE, 'Alpha', 'India']);
    // speedup descending: Bravo and Alpha tie at 2.5 and keep the board's order; Charlie 1.25, India 1.11, hostile 1.05.
    await header('speedup').click();
    await header('speedup').click();
    expect(await rankedTeams()).toEqual(['Bravo', 'Alpha', 'Charlie', 'India', HOSTILE]);
    expect(await header('speedup').getAttribute('aria-sort')).toBe('descending');
    // acc is missing for three teams: they go last in both directions. Alpha 31.0, Bravo 30.0.
    await header('acc').click();
    expect((await rankedTeams()).slice(0, 2)).toEqual(['Bravo', 'Alpha']);
    await header('acc').click();
    expect((await rankedTeams()).slice(0, 2)).toEqual(['Alpha', 'Bravo']);
    // rank: ascending again is the board's order, with its cut line; then descending (ties keep the board's order).
    await header('rank').click();
    expect(await rankedTeams()).toEqual(['Bravo', 'Alpha', 'Charlie', 'India', HOSTILE]);
    await expect(page.locator('#ranked tr.cut').isVisible()).resolves.toBe(true);
    expect(await page.locator('#ranked tr.cut').evaluate((row) => row.previousElementSibling?.getAttribute('data-i'))).toBe('2');
    await header('rank').click();
    expect(await rankedTeams()).toEqual([HOSTILE, 'India', 'Charlie', 'Bravo', 'Alpha']);
    await expect(page.locator('#ranked tr.cut').isVisible()).resolves.toBe(false);
    await header('rank').click();
    expect(await rankedTeams()).toEqual(['Bravo', 'Alpha', 'Charlie', 'India', HOSTILE]);
    await expect(page.locator('#ranked tr.cut').isVisible()).resolves.toBe(true);
  });

  it('draws one chart point per ranked team and one hollow point per team that failed the gate', async () => {
    const ranked = page.locator('figure.chart svg circle.ranked');
    expect(await ranked.count()).toBe(5);
    expect(await page.locator('figure.chart svg circle.gate-failed').count()).toBe(1);
    const titles = await ranked.locator('title').allTextContents();
    expect(titles.map((t) => t.split(':')[0])).toEqual(['#1 Bravo', '#1 Alpha', '#3 Charlie', '#4 India', `#5 ${HOSTILE.split(':')[0]}`]);
    const box = await page.locator('figure.chart svg').boundingBox();
    expect(box!.width).toBeGreaterThan(300);
  });

  it('leaves a screenshot in test-output/', async () => {
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.locator('#ranked thead th', { hasText: /^rank/ }).scrollIntoViewIfNeeded();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect((await readFile(SCREENSHOT)).subarray(1, 4).toString()).toBe('PNG');
  });

  it("follows the links to a run's report and to yesterday's board", async () => {
    await page.locator('#ranked tbody tr[data-i="1"] a', { hasText: 'report' }).click();
    await page.waitForLoadState('load');
    expect(page.url()).toBe(`${base}/reports/alpha-new/index.html`);
    expect(await page.locator('h1').textContent()).toBe('run alpha-new');
    await page.goBack({ waitUntil: 'load' });
    await page.locator('nav a.earlier', { hasText: '2025-03-03' }).click();
    await page.waitForLoadState('load');
    expect(page.url()).toBe(`${base}/site/snapshots/2025-03-03/index.html`);
    expect(await page.title()).toBe('optibench leaderboard · 2025-03-03');
    expect(await rankedTeams()).toEqual(['Bravo', 'Alpha', 'Charlie', 'India', HOSTILE]);
    await page.locator('#latest-link').click();
    await page.waitForLoadState('load');
    expect(page.url()).toBe(`${base}/site/index.html`);
  });

  it("says who timed the figures and names the board's one baseline with its time", async () => {
    await page.goto(`${base}/site/index.html`, { waitUntil: 'load' });
    expect(await page.locator('#baseline').textContent()).toBe('Every speedup is against the baseline run baseline-1, timed by the organizer: median inference 1.00 s.');
    const timed = await page.locator('#ranked tbody tr[data-i] td.timed').allInnerTexts();
    expect(timed.map((t) => t.split('\n')[0])).toEqual(['organizer · reference', 'organizer · reference', 'organizer · other machine', 'organizer · unchecked', 'organizer · unchecked']);
  });

  it('sorts rows whose baseline time is no measurement last, whichever way speedup or baseline is sorted', async () => {
    await page.goto(`${base}/odd-site/index.html`, { waitUntil: 'load' });
    const header = (name: string) => page.locator('#ranked thead th', { hasText: new RegExp(`^${name}$`) });
    const rest = ['NullBase', 'ZeroBase', 'NegBase', 'InfBase', 'NanBase', 'RunningBase'];
    expect(await rankedTeams()).toEqual(['StoredNeg', 'NullBase', 'ZeroBase', 'Honest', 'NegBase', 'InfBase', 'NanBase', 'RunningBase']);
    expect(await page.locator('#ranked tbody tr[data-i] td.baseline').allTextContents()).toEqual(['600 ms', '—', '—', '600 ms', '—', '—', '—', '—']);
    // speedup: Honest 2, StoredNeg 5; the others have none and stay below, in the board's order.
    await header('speedup').click();
    expect(await rankedTeams()).toEqual(['Honest', 'StoredNeg', ...rest]);
    await header('speedup').click();
    expect(await rankedTeams()).toEqual(['StoredNeg', 'Honest', ...rest]);
    // baseline: both real ones are 600 ms and keep the board's order, ascending and descending.
    await header('baseline').click();
    expect(await rankedTeams()).toEqual(['StoredNeg', 'Honest', ...rest]);
    await header('baseline').click();
    expect(await rankedTeams()).toEqual(['StoredNeg', 'Honest', ...rest]);
    expect(await page.locator('html').evaluate((html) => html.scrollWidth - html.clientWidth)).toBe(0);
  });

  it('logged no console errors or warnings and no failed requests', () => {
    expect(problems).toEqual([]);
  });
});

/** What overflows at the page's width: the page itself, and every table wider than the box it sits in. */
async function overflow(): Promise<{ page: number; tables: string[] }> {
  return page.locator('html').evaluate((html) => ({
    page: html.scrollWidth - html.clientWidth,
    tables: [...html.querySelectorAll('table')].flatMap((table) => {
      const box = table.parentElement!;
      const over = table.getBoundingClientRect().width - box.clientWidth;
      return over > 1 ? [`${table.id || table.className || 'table'} in ${box.className || box.tagName}: ${Math.round(over)} px too wide (${[...table.querySelectorAll('thead th')].map((th) => th.textContent).join('|')})`] : [];
    }),
  }));
}

/** Pairs of chart texts (labels) whose boxes, as chromium lays them out, overlap. */
async function overlappingLabels(selector: string): Promise<string[]> {
  return page.locator(selector).evaluateAll((texts) => {
    // getBBox: the text's box as chromium measured it, in the chart's own units.
    const boxes = texts.map((t) => ({ text: t.textContent, box: (t as unknown as { getBBox(): { x: number; y: number; width: number; height: number } }).getBBox() }));
    const hits: string[] = [];
    for (const [i, a] of boxes.entries())
      for (const b of boxes.slice(i + 1))
        if (a.box.x < b.box.x + b.box.width && b.box.x < a.box.x + a.box.width && a.box.y < b.box.y + b.box.height && b.box.y < a.box.y + a.box.height) hits.push(`${a.text} / ${b.text}`);
    return hits;
  });
}

describe('chart labels as chromium draws them', () => {
  it('keeps crowded labels apart, each inside the box it was placed in, digits and wide letters too', async () => {
    // The reports' own chart rule, taken from the template so the test follows it.
    const rule = /svg\.chart \{[^}]*\}/.exec(await readFile(path.join(REPO_ROOT, 'reports/templates/base.njk'), 'utf8'))![0];
    const names = ['baseline', 'head-pruning', 'kernel-fusion', 'all', 'WWMM mmww', '1234567890', 'Ωμέγα-100 % ©', 'Quantization@8', 'ǄŒ‰Ж 😀'];
    // Near-coincident points (a bench whose configurations tie), with the gate line running through them.
    const chart = scatterChart({
      title: 'crowded',
      xLabel: 'time',
      yLabel: 'acc_norm',
      points: names.map((label, i) => ({ x: 400 + (i % 3), y: 40 + (i % 2) * 0.01, label, kind: 'pass', title: label })),
      yFormat: (v) => `${v.toFixed(1)} %`,
      hLine: { value: 39.99, label: 'gate: acc_norm ≥ 39.99 %' },
    })!;
    await page.setContent(`<!doctype html><meta charset="utf-8"><style>figure.chart { max-width: 48rem; } ${rule}</style><figure class="chart">${chart.svg}</figure>`);
    expect(await overlappingLabels('svg text.point-label, svg text.gate-label')).toEqual([]);
    const drawn = await page.locator('svg text.point-label, svg text.gate-label').evaluateAll((texts) =>
      texts.map((t) => {
        const b = (t as unknown as { getBBox(): { x: number; y: number; width: number; height: number } }).getBBox();
        return { text: t.textContent!, x: Number(t.getAttribute('x')), y: Number(t.getAttribute('y')), box: { x: b.x, y: b.y, width: b.width, height: b.height } };
      }),
    );
    expect(drawn.map((d) => d.text).sort()).toEqual([...names, 'gate: acc_norm ≥ 39.99 %'].filter((t) => !chart.unlabelled.includes(t)).sort());
    expect(chart.unlabelled.length).toBeLessThanOrEqual(1);
    for (const d of drawn) {
      const placed = textBox(d.x, d.y, d.text);
      expect(d.box.x, d.text).toBeGreaterThanOrEqual(placed.x - 0.01);
      expect(d.box.y, d.text).toBeGreaterThanOrEqual(placed.y - 0.01);
      expect(d.box.x + d.box.width, d.text).toBeLessThanOrEqual(placed.x + placed.width);
      expect(d.box.y + d.box.height, d.text).toBeLessThanOrEqual(placed.y + placed.height);
    }
  });
});

describe('every page at 1280 px: no horizontal overflow, charts with their marks', () => {
  let pages: string;
  let run: InferenceResult;
  let bench: BenchFile;
  let compare: CompareFile;

  beforeAll(async () => {
    // Under the served folder, beside the leaderboard site.
    pages = path.join(root, 'pages');
    await mkdir(pages, { recursive: true });
    const cacheDir = path.join(pages, 'cache');
    const cli = (args: string[]) => {
      const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist/src/cli/main.js'), ...args, '--cache-dir', cacheDir], { cwd: pages, encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`optibench ${args.join(' ')} failed: ${result.stderr}`);
    };
    cli(['run', '--limit', '24', '--repeats', '2', '--no-progress', '-o', 'run']);
    cli(['compare', '--plugin', 'head-pruning', '--limit', '12', '-o', 'cmp']);
    cli(['bench', '--plugins', 'head-pruning,kernel-fusion', '--limit', '12', '--micro-time', '10', '-o', 'bench']);
    const only = async (dir: string) => path.join(dir, (await readdir(path.join(pages, dir)))[0]!);
    const [runDir, cmpDir, benchDir] = [await only('run'), await only('cmp'), await only('bench')];
    run = await readResultsFile(path.join(pages, runDir, 'results.json'));
    compare = JSON.parse(await readFile(path.join(pages, cmpDir, 'compare.json'), 'utf8')) as CompareFile;
    bench = JSON.parse(await readFile(path.join(pages, benchDir, 'bench.json'), 'utf8')) as BenchFile;
    await page.setViewportSize({ width: 1280, height: 900 });
    problems.length = 0;
    Object.assign(PAGES, { run: `${base}/pages/${runDir}/index.html`, compare: `${base}/pages/${cmpDir}/index.html`, bench: `${base}/pages/${benchDir}/index.html`, board: `${base}/site/index.html` });
  }, 300_000);

  const PAGES: Record<string, string> = {};

  async function open(name: string): Promise<void> {
    const response = await page.goto(PAGES[name]!, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    await page.locator('details').evaluateAll((all) => all.forEach((d) => d.setAttribute('open', '')));
  }

  async function shoot(name: string): Promise<void> {
    await mkdir(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  }

  it('run report: fits, and draws the batch latencies, the pass and the metrics', async () => {
    await open('run');
    expect(await overflow()).toEqual({ page: 0, tables: [] });
    const n = run.timings.batches!.passesMs.flat().length;
    expect(n).toBe(2 * run.payload.throughput.batches);
    expect(await page.locator('#chart-latency svg rect.bin').count()).toBe(Math.min(40, Math.ceil(Math.sqrt(n))));
    expect(await page.locator('#chart-latency svg text.marker-label').allTextContents()).toEqual([
      expect.stringMatching(/^p50 /),
      expect.stringMatching(/^p90 /),
      expect.stringMatching(/^p99 /),
    ]);
    const vertices = await page.locator('#chart-throughput svg polyline.line').getAttribute('points');
    expect(vertices!.split(' ')).toHaveLength(run.payload.throughput.batches);
    expect(await page.locator('#chart-accuracy svg rect.bar').count()).toBe(Object.keys(run.metrics).length);
    expect(await page.locator('#random-weights').textContent()).toContain('chance by construction');
    // Every item's text, and the gold ending of each, in the table.
    expect(await page.locator('table.items td.text details').count()).toBe(run.payload.items.length);
    expect(await page.locator('table.items td.text li.gold').count()).toBe(run.payload.items.length);
    await shoot('run');
  });

  it('compare report: fits, says PASS once, and draws the paired outcome and the differences', async () => {
    await open('compare');
    expect(await overflow()).toEqual({ page: 0, tables: [] });
    expect(await page.locator('.banner[role=status]').innerText()).toMatch(/^(PASS|FAIL) acc_norm /);
    expect(await page.locator('#chart-outcome svg rect.bar').count()).toBe(4);
    expect(await page.locator('#chart-difference svg circle.dot').count()).toBe(compare.metrics.length);
    await shoot('compare');
  });

  it('bench report: fits, and draws a speedup per plugin and a point per configuration', async () => {
    await open('bench');
    expect(await overflow()).toEqual({ page: 0, tables: [] });
    expect(await page.locator('#chart-speedup svg rect.bar').count()).toBe(bench.configurations.length - 1);
    expect(await page.locator('#chart-accuracy-time svg circle').count()).toBe(bench.configurations.length);
    expect(await page.locator('#chart-accuracy-time svg circle.baseline-point').count()).toBe(1);
    expect(await overlappingLabels('#chart-accuracy-time svg text.point-label, #chart-accuracy-time svg text.gate-label')).toEqual([]);
    await shoot('bench');
  });

  it('leaderboard: fits, and labels every team and the baseline without overlaps, on a y axis from 0 at most', async () => {
    await page.goto(PAGES.board!, { waitUntil: 'load' });
    expect(await overflow()).toEqual({ page: 0, tables: [] });
    const labels = await page.locator('figure.chart svg text.point-label').allTextContents();
    expect(labels, JSON.stringify(labels) + (await page.locator('figure.chart figcaption').textContent())).toHaveLength(5 + 1 + 1);
    expect(labels).toEqual(expect.arrayContaining(['1 Bravo', '1 Alpha', '3 Charlie', '4 India', 'Delta', 'baseline']));
    expect(await page.locator('figure.chart svg circle.baseline-point').count()).toBe(1);
    expect(await overlappingLabels('figure.chart svg text.point-label, figure.chart svg text.gate-label')).toEqual([]);
    const yTicks = await page.locator('figure.chart svg text[text-anchor=end]').allTextContents();
    expect(Math.min(...yTicks.map((t) => Number.parseFloat(t)))).toBeGreaterThanOrEqual(0);
    await shoot('leaderboard');
  });

  it('logged no console errors or warnings and no failed requests', () => {
    expect(problems).toEqual([]);
  });
});
