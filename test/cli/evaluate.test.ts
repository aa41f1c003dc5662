/**
 * `optibench evaluate inference`: the inference challenge through the evaluator contract alone, as any
 * competition is run. A baseline and a team's entry recorded this way are judged with the accuracy gate, whose
 * figures the inference board shows, and the team is ranked on the front page.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { leaderboardFileSchema } from '../../src/evaluators/inference/board/schema.js';
import { optibench, sqlite3 } from '../store/helpers.js';
import { registerTeam } from '../submissions/git-repo.js';

let work: string;
let cache: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-evaluate-'));
  cache = path.join(work, 'cache');
  await writeFile(path.join(work, 'c.yaml'), 'limit: 8\nbatchSize: 4\n');
  await writeFile(path.join(work, 'pruned.yaml'), 'limit: 8\nbatchSize: 4\nplugins: [head-pruning]\n');
  await writeFile(path.join(work, 'big.yaml'), 'limit: 12\nbatchSize: 4\n');
});

describe('optibench evaluate inference', () => {
  it('records a baseline, then judges a team\'s entry against it with the gate, figures included', () => {
    const baseline = optibench(['evaluate', 'inference', '-c', 'c.yaml', '--db', 'r.db', '--as-baseline'], work, cache);
    expect(baseline.stderr).not.toMatch(/error/);
    expect(baseline.code).toBe(0);
    expect(baseline.stdout).toMatch(/^ {2}inference time \S+ m?s +\(headline, lower is better\)$/m);
    const pruners = registerTeam(path.join(work, 'r.db'), 'Pruners', [{ name: 'Pat' }]);
    const team = optibench(['evaluate', 'inference', '-c', 'pruned.yaml', '--db', 'r.db', '--team', pruners], work, cache);
    expect(team.stderr).not.toMatch(/error/);
    expect(team.code).toBe(0);
    expect(team.stdout).toMatch(/^ {2}verdict +PASS against \S+: PASS: acc_norm /m);
    const db = path.join(work, 'r.db');
    expect(sqlite3(db, 'SELECT kind, status, total_items FROM runs ORDER BY started_at')).toEqual([
      { kind: 'baseline', status: 'complete', total_items: 8 },
      { kind: 'rerun', status: 'complete', total_items: 8 },
    ]);
    expect(sqlite3(db, 'SELECT COUNT(*) AS n FROM inference_items')).toEqual([{ n: 16 }]);
    const [gate] = sqlite3<{ metric: string; max_drop_points: number; full_set: number; passed: number }>(db, 'SELECT g.metric, g.max_drop_points, g.full_set, v.passed FROM inference_gates g JOIN verdicts v USING (run_id)');
    expect(gate).toEqual({ metric: 'acc_norm', max_drop_points: 0.5, full_set: 0, passed: 1 });
  });

  it('judges only against a baseline that scored the same items; one that did not is named, and the run is kept', () => {
    const other = optibench(['evaluate', 'inference', '-c', 'pruned.yaml', '--db', 'other.db', '--as-baseline'], work, cache);
    expect(other.code).toBe(0);
    const [{ id }] = sqlite3<{ id: string }>(path.join(work, 'other.db'), 'SELECT id FROM runs') as [{ id: string }];
    const [biggerTeam, namedTeam, ghostTeam] = ['Bigger', 'Named', 'Ghost'].map((name) => registerTeam(path.join(work, 'other.db'), name, [{ name: `${name} Member` }])) as [string, string, string];
    // A bigger selection of the same dataset: no baseline scored as many items, so none judges it.
    const unjudged = optibench(['evaluate', 'inference', '-c', 'big.yaml', '--db', 'other.db', '--team', biggerTeam], work, cache);
    expect(unjudged.code).toBe(0);
    expect(unjudged.stdout).not.toContain('verdict');
    // Named with --baseline, the same baseline is refused after the run, which is kept: exit 1, the reason on stderr.
    const named = optibench(['evaluate', 'inference', '-c', 'big.yaml', '--db', 'other.db', '--team', namedTeam, '--baseline', id], work, cache);
    expect(named.code).toBe(1);
    expect(named.stderr).toMatch(new RegExp(`optibench: warning: baseline ${id} cannot judge this run: the runs did not score the same items`));
    expect(sqlite3(path.join(work, 'other.db'), "SELECT r.status FROM runs r JOIN submissions s ON s.id = r.submission_id JOIN teams t ON t.id = s.team_id WHERE t.name = 'Named'")).toEqual([{ status: 'complete' }]);
    const ghost = optibench(['evaluate', 'inference', '-c', 'big.yaml', '--db', 'other.db', '--team', ghostTeam, '--baseline', 'nope'], work, cache);
    expect(ghost.code).toBe(1);
    expect(ghost.stderr).toContain('--baseline: run nope cannot be the baseline: there is no such run in the results database');
    expect(sqlite3(path.join(work, 'other.db'), "SELECT COUNT(*) AS n FROM submissions s JOIN teams t ON t.id = s.team_id WHERE t.name = 'Ghost'")).toEqual([{ n: 0 }]);
  });

  it('puts the team on the front page, ranked, with its speedup over the baseline', async () => {
    const { code, stderr } = optibench(['leaderboard', '--db', 'r.db', '-o', 'site', '--date', '2026-12-02'], work, cache);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const board = leaderboardFileSchema.parse(JSON.parse(await readFile(path.join(work, 'site', 'leaderboard.json'), 'utf8')));
    expect(board.ranked.map((r) => [r.team, r.rank, r.gate?.passed])).toEqual([['Pruners', 1, true]]);
    const [times] = sqlite3<{ baseline: number; team: number }>(path.join(work, 'r.db'), "SELECT (SELECT score FROM runs WHERE kind = 'baseline') AS baseline, (SELECT score FROM runs WHERE kind = 'rerun') AS team");
    expect(board.ranked[0]!.speedup).toBeCloseTo(times!.baseline / times!.team, 12);
  });
});
