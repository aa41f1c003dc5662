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

let work: string;
let cache: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-evaluate-'));
  cache = path.join(work, 'cache');
  await writeFile(path.join(work, 'c.yaml'), 'limit: 8\nbatchSize: 4\n');
  await writeFile(path.join(work, 'pruned.yaml'), 'limit: 8\nbatchSize: 4\nplugins: [head-pruning]\n');
});

describe('optibench evaluate inference', () => {
  it('records a baseline, then judges a team\'s entry against it with the gate, figures included', () => {
    const baseline = optibench(['evaluate', 'inference', '-c', 'c.yaml', '--db', 'r.db', '--as-baseline'], work, cache);
    expect(baseline.stderr).not.toMatch(/error/);
    expect(baseline.code).toBe(0);
    expect(baseline.stdout).toMatch(/^ {2}inference time \S+ m?s +\(headline, lower is better\)$/m);
    const team = optibench(['evaluate', 'inference', '-c', 'pruned.yaml', '--db', 'r.db', '--team', 'Pruners'], work, cache);
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
