/**
 * A second competition added without touching the first: the toy evaluator (test/evaluators/toy), defined only in
 * this test's folder, is registered through OPTIBENCH_EVALUATORS, takes a plugin declared for it, runs entries in
 * the real sandbox through `optibench evaluate` with `--db`, is judged against its baseline, and gets a board of
 * its own on the leaderboard site, with its columns and its direction (higher is better), beside the inference
 * board. Expected scores are worked out by hand from the programs below.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { boardFileSchema, type BoardFile } from '../../src/leaderboard/board-file.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { sqlite3, TSX_LOADER } from '../store/helpers.js';
import { registerTeam } from '../submissions/git-repo.js';

const TOY = path.join(REPO_ROOT, 'test/evaluators/toy/toy-evaluator.ts');
const SHOUT = path.join(REPO_ROOT, 'test/evaluators/toy/shout-plugin.mjs');
const CHROMIUM = '/usr/bin/chromium';

/** Reverses every line (awk: no `rev`, which a minimal system may lack). */
const REVERSE = `{ s = ""; for (i = length($0); i > 0; i--) s = s substr($0, i, 1); print s }`;
const PROGRAMS: Record<string, string> = {
  // alpha bravo charlie delta -> 4 of 4: quality 1
  'reverse-all.sh': `awk '${REVERSE}' "$TOY_INPUT" > "$TOY_OUTPUT"\n`,
  // the 1st and 3rd line reversed, the others as they were: 2 of 4, the baseline's 0.5
  'reverse-odd.sh': `awk 'NR % 2 == 1 ${REVERSE} NR % 2 == 0 { print }' "$TOY_INPUT" > "$TOY_OUTPUT"\n`,
  // all but the last: 3 of 4, 0.75
  'reverse-most.sh': `awk 'NR < 4 ${REVERSE} NR == 4 { print }' "$TOY_INPUT" > "$TOY_OUTPUT"\n`,
  // nothing right: 0, below the baseline
  'garbage.sh': `awk '{ print "x" }' "$TOY_INPUT" > "$TOY_OUTPUT"\n`,
  // hostile: the answers "file" is a link to a file of the organizer's
  'link-out.sh': `ln -s /etc/shadow "$TOY_OUTPUT"\n`,
};

let work: string;
/** The teams' registration ids, issued by the organizer before anything is evaluated for them. */
const teams: Record<string, string> = {};

function optibench(args: readonly string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [`--import=${TSX_LOADER}`, path.join(REPO_ROOT, 'src/cli/main.ts'), ...args], {
    cwd: work,
    encoding: 'utf8',
    env: { ...process.env, OPTIBENCH_CACHE_DIR: path.join(work, 'cache'), OPTIBENCH_EVALUATORS: TOY, ...env },
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const evaluate = (program: string, ...flags: string[]) => optibench(['evaluate', 'toy', `programs/${program}`, '-c', 'toy.yaml', '--db', 'results.db', ...flags]);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-toy-'));
  await mkdir(path.join(work, 'programs'));
  for (const [name, text] of Object.entries(PROGRAMS)) await writeFile(path.join(work, 'programs', name), text);
  await writeFile(path.join(work, 'toy.yaml'), 'words: [alpha, bravo, charlie, delta]\noutputDir: reports\n');
  await writeFile(path.join(work, 'shout.yaml'), `words: [alpha, bravo, charlie, delta]\nplugins:\n  - ${SHOUT}\n`);
  await writeFile(path.join(work, 'wrong-plugin.yaml'), 'plugins: [head-pruning]\n');
  for (const name of ['Alpha', 'Bravo', 'Charlie', 'Delta', 'Echo']) teams[name] = registerTeam(path.join(work, 'results.db'), name, [{ name: `${name} Member` }]);
});

describe('a toy evaluator registered from a test file', () => {
  it('imports nothing of optibench but its core contracts', async () => {
    const source = await readFile(TOY, 'utf8');
    const specifiers = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]!);
    expect(specifiers.length).toBeGreaterThan(5);
    for (const spec of specifiers) expect(spec).toMatch(/^(node:|zod$|\.\.\/\.\.\/\.\.\/src\/core\/)/);
  });

  it('records a baseline: the program runs in the sandbox, its answers are scored outside', () => {
    const { code, stdout, stderr } = evaluate('reverse-odd.sh', '--as-baseline');
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^optibench evaluate toy \S+-toy-[0-9a-f]{6}: Toy word reversal \(baseline\)$/m);
    expect(stdout).toMatch(/^ {2}quality +0\.5 +\(headline, higher is better\)$/m);
    expect(stdout).toMatch(/^ {2}correct +2$/m);
    const [run] = sqlite3<{ evaluator: string; kind: string; status: string; score: number; total_items: number }>(path.join(work, 'results.db'), 'SELECT evaluator, kind, status, score, total_items FROM runs');
    expect(run).toEqual({ evaluator: 'toy', kind: 'baseline', status: 'complete', score: 0.5, total_items: 4 });
  });

  it("judges each team's entry against the baseline: better or equal passes (exit 0), worse fails (exit 5)", () => {
    const alpha = evaluate('reverse-all.sh', '--team', teams.Alpha!);
    expect(alpha.stderr).not.toMatch(/error/);
    expect(alpha.code).toBe(0);
    expect(alpha.stdout).toMatch(/^ {2}verdict +PASS against \S+: PASS: quality 1 against the baseline's 0\.5$/m);
    expect(evaluate('reverse-most.sh', '--team', teams.Bravo!).code).toBe(0);
    const charlie = evaluate('garbage.sh', '--team', teams.Charlie!);
    expect(charlie.code).toBe(5);
    expect(charlie.stdout).toMatch(/verdict +FAIL .*quality 0 against the baseline's 0\.5/);
  });

  it("keeps its per-word answers in its own table, made by its own migration", () => {
    const db = path.join(work, 'results.db');
    expect(sqlite3(db, 'SELECT evaluator, version FROM store_versions ORDER BY evaluator')).toEqual([
      { evaluator: 'compression', version: 1 },
      { evaluator: 'inference', version: 1 },
      { evaluator: 'toy', version: 1 },
    ]);
    const rows = sqlite3<{ word: string; answer: string; correct: number }>(
      db,
      "SELECT i.word, i.answer, i.correct FROM toy_items i JOIN runs r ON r.id = i.run_id JOIN submissions s ON s.id = r.submission_id JOIN teams t ON t.id = s.team_id WHERE t.name = 'Bravo' ORDER BY i.item_index",
    );
    expect(rows).toEqual([
      { word: 'alpha', answer: 'ahpla', correct: 1 },
      { word: 'bravo', answer: 'ovarb', correct: 1 },
      { word: 'charlie', answer: 'eilrahc', correct: 1 },
      { word: 'delta', answer: 'delta', correct: 0 },
    ]);
  });

  it('refuses an entry that links its answers to a host file, and records the run as failed with why (exit 1)', () => {
    const { code, stderr } = evaluate('link-out.sh', '--team', teams.Delta!);
    expect(code).toBe(1);
    expect(stderr).toMatch(/answers\.txt: the entry's answers file is a symbolic link, which is not followed\n$/);
    expect(stderr).not.toContain('root:');
    const [run] = sqlite3<{ status: string; error: string }>(path.join(work, 'results.db'), "SELECT r.status, r.error FROM runs r JOIN submissions s ON s.id = r.submission_id JOIN teams t ON t.id = s.team_id WHERE t.name = 'Delta'");
    expect(run).toMatchObject({ status: 'failed' });
    expect(run!.error).toContain('is a symbolic link, which is not followed');
  });

  it('takes a plugin declared for it; the plugin changes what the entry is given', async () => {
    const { code, stdout, stderr } = optibench(['evaluate', 'toy', 'programs/reverse-all.sh', '-c', 'shout.yaml', '--db', 'results.db', '--team', teams.Echo!]);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    // No baseline was recorded on the shouted words: nothing to judge against.
    expect(stdout).not.toContain('verdict');
    const resultsFile = path.join(work, stdout.match(/^ {2}results +(\S+)$/m)![1]!);
    const result = JSON.parse(await readFile(resultsFile, 'utf8')) as { plugins: { name: string; facts: object }[]; payload: { items: { word: string; answer: string }[] } };
    expect(result.plugins).toEqual([{ name: 'shout', version: '1.0.0', source: `file:${SHOUT}`, options: null, facts: { shouted: true } }]);
    expect(result.payload.items.map((i) => [i.word, i.answer])).toEqual([['ALPHA', 'AHPLA'], ['BRAVO', 'OVARB'], ['CHARLIE', 'EILRAHC'], ['DELTA', 'ATLED']]);
  });

  it("refuses an inference plugin in its config, and its plugin in an inference run, naming what each applies to", () => {
    const toyWithInference = optibench(['evaluate', 'toy', 'programs/reverse-all.sh', '-c', 'wrong-plugin.yaml']);
    expect(toyWithInference.code).toBe(1);
    expect(toyWithInference.stderr).toBe('optibench: error: plugins[0]: plugin "head-pruning" applies to the inference evaluator, not toy\n');
    const inferenceWithToy = optibench(['run', '--plugin', SHOUT, '--limit', '2']);
    expect(inferenceWithToy.code).toBe(1);
    expect(inferenceWithToy.stderr).toMatch(/\noptibench: error: plugins\[0\]: plugin "shout" applies to the toy evaluator, not inference\n$/);
  });

  it('optibench plugins names the evaluator and the targets of each built-in, and none is the toy\'s', () => {
    const all = optibench(['plugins']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^plugin +version +targets +evaluator +what it does$/m);
    expect(all.stdout).toMatch(/^head-pruning +1\.0\.0 +\[onnx\] +inference +Runs the final norm/m);
    expect(all.stdout).toMatch(/^prefix-sharing +\S+ +\[onnx, pytorch\] +inference /m);
    expect(all.stdout).toMatch(/^tensor-parallel +\S+ +\[pytorch\] +inference /m);
    expect(optibench(['plugins', '--evaluator', 'toy']).stdout).toBe('no built-in plugins for the toy evaluator\n');
  });

  it('refuses what evaluate cannot do, before running anything (exit 1)', () => {
    const noDb = optibench(['evaluate', 'toy', 'programs/reverse-all.sh', '--team', 'Golf']);
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toBe('optibench: error: --team: --team, --as-baseline and --baseline need --db <file>: they are about the results database\n');
    // A team is its registration: a name, or an id nobody registered, is refused with nothing recorded.
    const runs = () => sqlite3(path.join(work, 'results.db'), 'SELECT id FROM runs ORDER BY id');
    const before = runs();
    const unregistered = optibench(['evaluate', 'toy', 'programs/reverse-all.sh', '-c', 'toy.yaml', '--db', 'results.db', '--team', 'team-zzzz2222']);
    expect(unregistered.code).toBe(1);
    expect(unregistered.stderr).toBe(
      `optibench: error: ${path.join(work, 'results.db')}: --team: no team team-zzzz2222 is registered in this results database: register the team first (optibench team register --db ${path.join(work, 'results.db')} --name "<team name>" --member "Name <email>") and use the id it prints\n`,
    );
    const byName = optibench(['evaluate', 'toy', 'programs/reverse-all.sh', '-c', 'toy.yaml', '--db', 'results.db', '--team', 'Alpha']);
    expect(byName.code).toBe(1);
    expect(byName.stderr).toBe('optibench: error: --team: "Alpha" is not a team id: expected the registration id the organizer issued (team- and 8 characters a-z, 2-7)\n');
    expect(runs()).toEqual(before);
    const noEntry = optibench(['evaluate', 'toy', 'programs/missing.sh']);
    expect(noEntry.code).toBe(1);
    expect(noEntry.stderr).toBe(`optibench: error: ${path.join(work, 'programs/missing.sh')}: the entry does not exist\n`);
    const badConfig = optibench(['evaluate', 'toy', 'programs/reverse-all.sh', '-c', 'wrong-plugin.yaml', '--db', 'other.db', '--baseline', 'ghost']);
    expect(badConfig.code).toBe(1);
    expect(existsSync(path.join(work, 'other.db'))).toBe(false);
  });

  it('refuses an OPTIBENCH_EVALUATORS module that is missing or is not an evaluator, naming it', () => {
    const missing = optibench(['plugins'], { OPTIBENCH_EVALUATORS: './nope.ts' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`optibench: error: ${path.join(work, 'nope.ts')}: evaluator module file does not exist\n`);
    const notOne = optibench(['plugins'], { OPTIBENCH_EVALUATORS: SHOUT });
    expect(notOne.code).toBe(1);
    expect(notOne.stderr).toBe(`optibench: error: ${SHOUT}: evaluator module "${SHOUT}" is not a valid optibench evaluator: id: Invalid input: expected string, received undefined (see src/core/evaluator.ts)\n`);
    const twice = optibench(['plugins'], { OPTIBENCH_EVALUATORS: `${TOY},${TOY}` });
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('two evaluators have the id "toy"');
  });

  it('shows up in the registry: evaluate --help names it, and schema prints its config schema', () => {
    expect(optibench(['evaluate', '--help']).stdout).toMatch(/which evaluator \(inference, compression, toy; more from\s+OPTIBENCH_EVALUATORS\)/);
    const schema = JSON.parse(optibench(['schema', 'config', '--evaluator', 'toy']).stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties).sort()).toEqual(['outputDir', 'plugins', 'timeoutSeconds', 'words']);
    const unknown = optibench(['evaluate', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown evaluator "nope" (known: inference, compression, toy');
  });
});

describe('its board on the leaderboard site', () => {
  let board: BoardFile;
  let stdout: string;

  beforeAll(async () => {
    const rendered = optibench(['leaderboard', '--db', 'results.db', '-o', 'site', '--date', '2026-12-02', '--top', '1']);
    expect(rendered.stderr).toBe('');
    expect(rendered.code).toBe(0);
    stdout = rendered.stdout;
    board = boardFileSchema.parse(JSON.parse(await readFile(path.join(work, 'site', 'toy', 'board.json'), 'utf8')));
  });

  it('is written beside the inference board, which stays the front page', () => {
    expect(stdout).toContain('leaderboard 2026-12-02: 0 ranked (0 go on), 0 failed the gate, 0 pending, 0 failed\n  board     site/index.html\n');
    expect(stdout).toContain(
      'leaderboard 2026-12-02 (Toy word reversal): 2 ranked (1 go on), 1 failed the gate, 1 pending, 1 failed\n' +
        '  board     site/toy/index.html\n  json      site/toy/board.json\n  snapshot  site/toy/snapshots/2026-12-02/index.html\n',
    );
    expect(existsSync(path.join(work, 'site', 'toy', 'snapshots', '2026-12-02', 'board.json'))).toBe(true);
  });

  it('ranks by its own score in its own direction: higher quality first', () => {
    expect(board.evaluator).toEqual({ id: 'toy', version: '1', title: 'Toy word reversal' });
    expect(board.score).toEqual({ name: 'quality', label: 'quality', unit: '', direction: 'higher' });
    expect(board.ranked.map((r) => [r.team, r.rank, r.score, r.advances])).toEqual([
      ['Alpha', 1, 1, true],
      ['Bravo', 2, 0.75, false],
    ]);
    expect(board.rejected.map((r) => [r.team, r.score, r.verdict?.passed])).toEqual([['Charlie', 0, false]]);
    expect(board.pending.map((r) => [r.team, r.note])).toEqual([['Echo', 'no baseline verdict recorded yet']]);
    expect(board.failed.map((r) => r.team)).toEqual(['Delta']);
    expect(board.failed[0]!.note).toContain('is a symbolic link');
  });

  it('says who timed each score (the organizer: evaluate --team) and on what machine, and the members as registered', async () => {
    expect(board.version).toBe(2);
    expect(board.ranked.map((r) => [r.team, r.members, r.timedBy])).toEqual([
      ['Alpha', ['Alpha Member'], 'organizer'],
      ['Bravo', ['Bravo Member'], 'organizer'],
    ]);
    // The toy evaluator records this machine from Node's os module, with no maker and no GPU.
    const machine = `${os.cpus()[0]!.model.trim()}, ${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB, no GPU`;
    expect(board.ranked.map((r) => r.machine)).toEqual([machine, machine]);
    const html = await readFile(path.join(work, 'site', 'toy', 'index.html'), 'utf8');
    expect(html).toContain('<span class="team-name">Alpha</span><br><span class="muted small members">Alpha Member</span>');
    expect(html).toContain(`<td data-v="organizer · unchecked" class="timed">organizer · unchecked<br><span class="muted small">${machine}</span></td>`);
  });

  it('shows its own columns', async () => {
    expect(board.columns).toEqual([
      { key: 'correct', label: 'correct words', format: 'integer' },
      { key: 'quality', label: 'quality', format: 'percent' },
    ]);
    expect(board.ranked[1]!.columns).toEqual({ correct: 3, quality: { value: 0.75, stderr: null } });
    const html = await readFile(path.join(work, 'site', 'toy', 'index.html'), 'utf8');
    expect(html).toContain('<th data-sort="num" title="higher is better">quality (higher is better)</th><th data-sort="num">correct words</th><th data-sort="num">quality</th>');
    expect(html).toContain('<td data-v="0.75">75.00 %</td>');
    expect(html).toMatch(/<a href="\.\.\/\.\.\/reports\/[^"]+-toy-[0-9a-f]{6}\/index\.html">report<\/a>/);
    expect(html).toContain('<a href="../index.html" class="other-board">optibench leaderboard</a>');
  });

  it('is linked from the front page', async () => {
    const front = await readFile(path.join(work, 'site', 'index.html'), 'utf8');
    expect(front).toContain('<a href="toy/index.html" class="other-board">Toy word reversal</a>');
  });

  it('works in chromium: no horizontal overflow at 1280 px, columns sort, the link to the front page leads there', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: test/setup/install-system-deps.sh installs it`);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(pathToFileURL(path.join(work, 'site', 'toy', 'index.html')).href);
      expect(await page.locator('html').evaluate((html) => html.scrollWidth - html.clientWidth)).toBe(0);
      const teams = () => page.locator('#ranked tbody tr[data-i] .team-name').allTextContents();
      expect(await teams()).toEqual(['Alpha', 'Bravo']);
      await page.locator('#ranked thead th', { hasText: /^correct words$/ }).click();
      expect(await teams()).toEqual(['Bravo', 'Alpha']);
      await page.locator('a.other-board').click();
      expect(await page.title()).toBe('optibench leaderboard · 2026-12-02');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
