import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { queryStandings } from '../../src/evaluators/inference/board/query.js';
import type { Board } from '../../src/core/board.js';
import type { TeamStanding } from '../../src/evaluators/inference/board/query.js';
import { rankStandings } from '../../src/leaderboard/rank.js';
import { writeLeaderboardSite } from '../../src/leaderboard/site.js';
import { leaderboardFileSchema } from '../../src/evaluators/inference/board/schema.js';
import { FixtureDb, tempDir } from './db-fixture.js';
import { buildOddBaselines, buildScenario, FOXTROT_ERROR, HOSTILE } from './scenario.js';
import { sqlite3 } from '../store/helpers.js';

let fixture: FixtureDb;
let board: Board<TeamStanding>;

beforeAll(() => {
  fixture = buildScenario(path.join(tempDir('leaderboard-query'), 'results.sqlite'));
  board = rankStandings(queryStandings(fixture.store), 3);
});
afterAll(() => fixture.close());

describe('the board from the scenario database (expected values worked out in scenario.ts)', () => {
  it('ranks gate-passing teams by inference time; equal times share a rank, the earlier submission listed first', () => {
    expect(board.ranked.map((r) => [r.team, r.rank, r.inferenceMs, r.advances])).toEqual([
      ['Bravo', 1, 400, true],
      ['Alpha', 1, 400, true],
      ['Charlie', 3, 800, true],
      ['India', 4, 900, false],
      [HOSTILE, 5, 950, false],
    ]);
  });

  it("takes each team's last submission and that submission's latest complete rerun only", () => {
    const alpha = board.ranked.find((r) => r.team === 'Alpha')!;
    // Not the 450 ms rerun started earlier, not the team's own 100 ms `run`, not the first submission's.
    expect(alpha).toMatchObject({ runId: 'alpha-new', submissions: 2, submittedAt: '2025-03-02T09:00:00Z', runFinishedAt: '2025-03-02T11:30:00Z', reportPath: 'reports/alpha-new' });
    // Same submitted_at: the higher id is the last one, though inserted first (and slower).
    expect(board.ranked.find((r) => r.team === 'India')).toMatchObject({ submissionId: 50, runId: 'india-50', submissions: 2 });
    // A failed attempt after a complete rerun does not undo it.
    expect(board.ranked.find((r) => r.team === 'Charlie')).toMatchObject({ state: 'judged', runId: 'charlie-1' });
    // Echo's earlier submission re-ran at 100 ms and passed: it does not count once a later one exists.
    expect(board.ranked.some((r) => r.team === 'Echo')).toBe(false);
  });

  it('uses the gate\'s stored speedup, else the baseline run\'s median over the run\'s', () => {
    const speedups = Object.fromEntries([...board.ranked, ...board.rejected].map((r) => [r.team, r.speedup]));
    expect(speedups).toEqual({ Bravo: 2.5, Alpha: 1000 / 400, Charlie: 1.25, India: 1000 / 900, [HOSTILE]: 1000 / 950, Delta: 5 });
  });

  it("names the baseline of each judged row with its own median time; rows without a verdict name none", () => {
    const baselines = Object.fromEntries([...board.ranked, ...board.rejected, ...board.pending].map((r) => [r.team, r.baseline]));
    const base = { runId: 'baseline-1', medianMs: 1000 };
    expect(baselines).toEqual({ Bravo: base, Alpha: base, Charlie: base, India: base, [HOSTILE]: base, Delta: base, Hotel: null, Golf: null, Echo: null });
    expect(board.failed[0]!.baseline).toBeNull();
  });

  it('says who timed each row and on what, as recorded: organizer re-runs only, the machine when it is one', () => {
    expect(board.ranked.map((r) => [r.team, r.runKind, r.machine?.cpu.brand ?? null])).toEqual([
      ['Bravo', 'rerun', 'EPYC 7B13'],
      ['Alpha', 'rerun', null],
      ['Charlie', 'rerun', 'Xeon Gold 6230'],
      ['India', 'rerun', null],
      [HOSTILE, 'rerun', null],
    ]);
    expect(board.pending.map((r) => [r.team, r.runKind])).toEqual([['Hotel', 'rerun'], ['Golf', 'rerun'], ['Echo', null]]);
    expect(board.ranked.find((r) => r.team === 'Alpha')!.members).toEqual(['Ada Lovelace', 'Alan Turing']);
  });

  it('carries acc and acc_norm with their stderr, the gate and the reference-server flag', () => {
    const bravo = board.ranked[0]!;
    expect(bravo.acc).toEqual({ value: 0.3, stderr: 0.0046 });
    expect(bravo.accNorm).toEqual({ value: 0.401, stderr: 0.0049 });
    expect(bravo.gate).toMatchObject({ passed: true, metric: 'acc_norm', baselineRunId: 'baseline-1', baselineValue: 0.4, value: 0.401, maxDropPoints: 0.5, fullSet: true });
    expect(board.ranked.find((r) => r.team === 'Charlie')!.acc).toBeNull();
    expect(board.ranked.map((r) => r.referenceMatch)).toEqual([true, true, false, null, null]);
  });

  it('keeps failing-gate rows apart, even when faster', () => {
    expect(board.rejected.map((r) => r.team)).toEqual(['Delta']);
    const delta = board.rejected[0]!;
    expect(delta.gate!.passed).toBe(false);
    expect(delta.gate!.dropPoints).toBeCloseTo(2, 12);
    expect(delta.inferenceMs).toBe(200);
  });

  it('lists complete runs without a verdict, then pending submissions (oldest first), and failed runs with their error', () => {
    expect(board.pending.map((r) => [r.team, r.state, r.note, r.runId])).toEqual([
      ['Hotel', 'unjudged', 'no accuracy-gate verdict recorded yet', 'hotel-1'],
      ['Golf', 'pending', 'the re-run is under way', 'golf-1'],
      ['Echo', 'pending', 'not re-run yet', null],
    ]);
    expect(board.failed.map((r) => [r.team, r.state, r.note, r.runId])).toEqual([['Foxtrot', 'failed', FOXTROT_ERROR, 'foxtrot-1']]);
  });

  it('takes every team tied at the cut line on', () => {
    const top1 = rankStandings(queryStandings(fixture.store), 1);
    expect(top1.ranked.map((r) => [r.team, r.advances])).toEqual([
      ['Bravo', true],
      ['Alpha', true],
      ['Charlie', false],
      ['India', false],
      [HOSTILE, false],
    ]);
  });
});

describe('rounds and bad rows', () => {
  it('with a round, only that round\'s submissions count', () => {
    const f = new FixtureDb(path.join(tempDir('leaderboard-round'), 'results.sqlite'));
    try {
      const team = f.team('Kilo');
      const base = f.run({ id: 'b', submissionId: null, kind: 'baseline', status: 'complete', startedAt: '2025-03-01T00:00:00Z', medianMs: 600 });
      const one = f.submission(team, '2025-03-01T01:00:00Z', { round: 1 });
      const two = f.submission(team, '2025-04-01T01:00:00Z', { round: 2 });
      f.gate(f.run({ id: 'r1', submissionId: one, status: 'complete', startedAt: '2025-03-01T02:00:00Z', medianMs: 300 }), base, { baseline: 0.4, value: 0.4 });
      f.gate(f.run({ id: 'r2', submissionId: two, status: 'complete', startedAt: '2025-04-01T02:00:00Z', medianMs: 200 }), base, { baseline: 0.4, value: 0.4 });
      expect(queryStandings(f.store, { round: 1 }).map((s) => [s.runId, s.round, s.submissions, s.speedup])).toEqual([['r1', 1, 1, 2]]);
      expect(queryStandings(f.store, { round: 2 }).map((s) => [s.runId, s.round, s.speedup])).toEqual([['r2', 2, 3]]);
      expect(queryStandings(f.store).map((s) => [s.runId, s.submissions])).toEqual([['r2', 2]]);
    } finally {
      f.close();
    }
  });

  it('renders whatever the store holds: zero, negative and infinite times are never placed, let alone on top', async () => {
    const dir = tempDir('leaderboard-odd');
    const f = new FixtureDb(path.join(dir, 'results.sqlite'));
    try {
      const base = f.run({ id: 'b', submissionId: null, kind: 'baseline', status: 'complete', startedAt: '2025-03-01T00:00:00Z', medianMs: 600 });
      const cases: [string, number][] = [['Zero', 0], ['Negative', -5], ['Infinite', Number.POSITIVE_INFINITY], ['Honest', 300]];
      for (const [team, ms] of cases) {
        const run = f.run({ id: team, submissionId: f.submission(f.team(team), '2025-03-01T01:00:00Z'), status: 'complete', startedAt: '2025-03-01T02:00:00Z', medianMs: ms, accNorm: [0.4, 0.01] });
        f.gate(run, base, { baseline: 0.4, value: 0.4 });
      }
      const board = rankStandings(queryStandings(f.store), 3);
      expect(board.ranked.map((r) => [r.team, r.rank])).toEqual([['Honest', 1]]);
      expect(board.pending.map((r) => [r.team, r.note])).toEqual([
        ['Infinite', 'its inference time (Infinity) is not a measurement'],
        ['Negative', 'its inference time (-5) is not a measurement'],
        ['Zero', 'its inference time (0) is not a measurement'],
      ]);
      const site = await writeLeaderboardSite({ store: f.store, dbFile: f.file, outDir: path.join(dir, 'site'), date: '2025-03-02' });
      expect(leaderboardFileSchema.parse(site.file).ranked.map((r) => r.team)).toEqual(['Honest']);
    } finally {
      f.close();
    }
  });

  it("renders whatever the store holds as a baseline's time: missing, zero, negative, infinite or text is shown as none, computes no speedup, and moves no one", async () => {
    const dir = tempDir('leaderboard-odd-baselines');
    const f = new FixtureDb(path.join(dir, 'results.sqlite'));
    try {
      buildOddBaselines(f);
      expect(sqlite3(f.file, "SELECT typeof(score) AS t FROM runs WHERE id = 'b-nan'")).toEqual([{ t: 'text' }]);

      const standings = rankStandings(queryStandings(f.store), 3);
      // Ranked by their own times, every one of them real: the baselines move no one.
      expect(standings.ranked.map((r) => [r.team, r.rank])).toEqual([
        ['StoredNeg', 1], ['NullBase', 2], ['ZeroBase', 3], ['Honest', 4], ['NegBase', 5], ['InfBase', 6], ['NanBase', 7], ['RunningBase', 8],
      ]);
      // A stored speedup that is no measurement (-3) gives way to the two times: 600 / 120 = 5; Honest 600 / 300 = 2.
      expect(standings.ranked.map((r) => [r.team, r.speedup, r.baseline])).toEqual([
        ['StoredNeg', 5, { runId: 'b-ok', medianMs: 600 }],
        ['NullBase', null, { runId: 'b-null', medianMs: null }],
        ['ZeroBase', null, { runId: 'b-zero', medianMs: null }],
        ['Honest', 2, { runId: 'b-ok', medianMs: 600 }],
        ['NegBase', null, { runId: 'b-neg', medianMs: null }],
        ['InfBase', null, { runId: 'b-inf', medianMs: null }],
        ['NanBase', null, { runId: 'b-nan', medianMs: null }],
        ['RunningBase', null, { runId: 'b-running', medianMs: null }],
      ]);

      const site = await writeLeaderboardSite({ store: f.store, dbFile: f.file, outDir: path.join(dir, 'site'), date: '2025-03-02', top: 3 });
      const json = leaderboardFileSchema.parse(site.file);
      expect(json.baseline).toBeNull();
      expect(json.ranked.map((r) => r.baseline?.medianMs ?? null)).toEqual([600, null, null, 600, null, null, null, null]);
      const html = await readFile(site.index, 'utf8');
      // No single baseline: each row shows its own, with a column that sorts like the others (empty last).
      expect(html).not.toContain('id="baseline"');
      expect(html).toContain('<th data-sort="num" title="the median inference time of the baseline run the speedup is against">baseline</th>');
      expect(html).toContain('<td data-v="2" title="against baseline run b-ok">2.00×</td>\n<td data-v="600" class="baseline" title="baseline run b-ok">600 ms</td>');
      expect(html).toContain('<td data-v="" title="against baseline run b-nan">—</td>\n<td data-v="" class="baseline" title="baseline run b-nan">—</td>');
      expect(html).toContain('<tr class="cut"><td colspan="11">▲ top 3 go on</td></tr>');
    } finally {
      f.close();
    }
  });

  it("names a shared baseline whose time is no measurement in the header, as none", async () => {
    const dir = tempDir('leaderboard-odd-shared');
    const f = new FixtureDb(path.join(dir, 'results.sqlite'));
    try {
      f.run({ id: 'b', submissionId: null, kind: 'baseline', status: 'complete', startedAt: '2025-03-01T00:00:00Z', medianMs: -1 });
      const run = f.run({ id: 'r', submissionId: f.submission(f.team('Oscar'), '2025-03-01T01:00:00Z'), status: 'complete', startedAt: '2025-03-01T02:00:00Z', medianMs: 300 });
      f.gate(run, 'b', { baseline: 0.4, value: 0.4 });
      const site = await writeLeaderboardSite({ store: f.store, dbFile: f.file, outDir: path.join(dir, 'site'), date: '2025-03-02' });
      expect(leaderboardFileSchema.parse(site.file)).toMatchObject({ baseline: { runId: 'b', medianMs: null }, ranked: [{ team: 'Oscar', speedup: null }] });
      expect(await readFile(site.index, 'utf8')).toContain(
        '<p class="meta" id="baseline">Every speedup is against the baseline run <code>b</code>, timed by the organizer: median inference — (what the results database holds for it is not a measurement).</p>',
      );
    } finally {
      f.close();
    }
  });

  it('does not place a run whose verdict came without the gate\'s figures, and says why', () => {
    const f = new FixtureDb(path.join(tempDir('leaderboard-bare-verdict'), 'results.sqlite'));
    try {
      const base = f.run({ id: 'b', submissionId: null, kind: 'baseline', status: 'complete', startedAt: '2025-03-01T00:00:00Z', medianMs: 600 });
      const run = f.run({ id: 'r', submissionId: f.submission(f.team('Mike'), '2025-03-01T01:00:00Z'), status: 'complete', startedAt: '2025-03-01T02:00:00Z', medianMs: 300 });
      f.db.prepare("INSERT INTO verdicts (run_id, reference_run_id, passed, reason, recorded_at) VALUES (?, ?, 1, 'PASS', '2025-03-01T03:00:00Z')").run(run, base);
      const board = rankStandings(queryStandings(f.store), 3);
      expect(board.ranked).toEqual([]);
      expect(board.pending.map((r) => [r.team, r.state, r.note])).toEqual([['Mike', 'unjudged', 'the accuracy-gate verdict was recorded without its figures']]);
    } finally {
      f.close();
    }
  });

  it('refuses a submission time that is not ISO-8601, naming the database and the row', () => {
    const file = path.join(tempDir('leaderboard-bad'), 'results.sqlite');
    const f = new FixtureDb(file);
    try {
      f.submission(f.team('Lima'), '03/01/2025');
      expect(() => queryStandings(f.store)).toThrow(OptibenchError);
      expect(() => queryStandings(f.store)).toThrow('submissions id 1: submitted_at is "03/01/2025", expected an ISO-8601 time');
      try {
        queryStandings(f.store);
      } catch (error) {
        expect((error as OptibenchError).location?.file).toBe(file);
      }
    } finally {
      f.close();
    }
  });
});
