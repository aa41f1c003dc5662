/**
 * One competition's database, with the cases the board must get right; the expected board is worked out by
 * hand in the comments and in the tests that use it.
 *
 *   team     last submission                 its reruns                               board
 *   Alpha    03-02 09:00 (2 submissions)     450 ms @10:00, 400 ms @11:00 (pass),     rank 1 (400 ms, tie), speedup 1000/400 = 2.5
 *                                            failed @09:30, own `run` 100 ms @12:00     computed from the baseline (gate stored none)
 *   Bravo    03-01 12:00                     400 ms (pass, speedup 2.5 stored)        rank 1: tie with Alpha, submitted earlier: listed first
 *   Charlie  03-01 08:00                     800 ms (pass) @09:00, failed @20:00      rank 3 (a later failed attempt does not undo a complete run)
 *   India    two at 03-01 04:00, id 50 & 40  id 50: 900 ms (pass); id 40: 50 ms       rank 4: same time, the higher id is last; 1000/900
 *   Hostile  03-01 03:00                     950 ms (pass)                            rank 5: 1000/950
 *   Delta    03-01 02:00                     200 ms, acc_norm 38.0 vs 40.0 (FAIL)     failed the gate
 *   Hotel    03-01 05:00                     300 ms, no gate row                      pending: no verdict yet (listed before pending ones)
 *   Golf     03-02 06:00                     running                                  pending: under way
 *   Echo     03-03 07:00 (an earlier one     none for the last                        pending: not re-run yet
 *            re-ran at 100 ms, passing)
 *   Foxtrot  03-01 06:00                     failed: wall-time limit                  failed
 * Baseline: 1000 ms, acc_norm 40.0 %; every verdict is against it, so the board names it once, in its header.
 *
 * Who timed what: every row's run is an organizer re-run (`rerun`); Alpha's own `run` is never shown. Machines
 * recorded: Bravo on REFERENCE_MACHINE ("AMD EPYC 7B13, 32 cores, 360.0 GiB, 4× Tesla V100-SXM2-32GB"), Charlie
 * on OTHER_MACHINE ("Intel Xeon Gold 6230, 8 cores, 64.0 GiB, no GPU": the maker is not in the brand, so it is
 * put in front), India on something that is not a machine (shown as none); the others recorded none.
 * Alpha registered two members (Ada Lovelace with her address, Alan Turing); the others one, "A Student".
 */
import path from 'node:path';
import { FixtureDb } from './db-fixture.js';

export const HOSTILE = `<img src=x onerror="alert(1)">&amp; '"Team"</td>`;
export const FOXTROT_ERROR = 'sandbox: wall-time limit of 3600 s exceeded; process tree killed';

const OS = { platform: 'linux', distro: 'Ubuntu', release: '22.04', kernel: '5.15.0', arch: 'x64' };
export const REFERENCE_MACHINE = {
  cpu: { brand: 'EPYC 7B13', manufacturer: 'AMD', cores: 32, physicalCores: 16, speedGHz: 2.45 },
  memory: { totalBytes: 360 * 1024 ** 3 },
  gpus: Array.from({ length: 4 }, () => ({ model: 'Tesla V100-SXM2-32GB', vendor: 'NVIDIA', vramMB: 32768 })),
  os: OS,
  hostname: 'reference',
  versions: { node: 'v20.19.0', optibench: '0.1.0', 'nvidia-driver': '550.54' },
};
export const OTHER_MACHINE = {
  cpu: { brand: 'Xeon Gold 6230', manufacturer: 'Intel', cores: 8, physicalCores: 4, speedGHz: 2.1 },
  memory: { totalBytes: 64 * 1024 ** 3 },
  gpus: [],
  os: OS,
  hostname: 'laptop',
  versions: { node: 'v20.19.0', optibench: '0.1.0' },
};

export function buildScenario(file: string): FixtureDb {
  const f = new FixtureDb(file);
  const dbDir = path.dirname(file);
  const base = f.run({ id: 'baseline-1', submissionId: null, kind: 'baseline', status: 'complete', startedAt: '2025-02-28T00:00:00Z', medianMs: 1000, accNorm: [0.4, 0.0049] });
  const pass = (runId: string, value: number, speedup: number | null = null) => f.gate(runId, base, { baseline: 0.4, value, speedup });

  const alpha = f.team('Alpha', [{ name: 'Ada Lovelace', email: 'ada@example.org' }, { name: 'Alan Turing' }]);
  const alphaOld = f.submission(alpha, '2025-03-01T10:00:00Z');
  pass(f.run({ submissionId: alphaOld, status: 'complete', startedAt: '2025-03-01T11:00:00Z', medianMs: 500, accNorm: [0.4, 0.0049] }), 0.4, 2);
  const alphaLast = f.submission(alpha, '2025-03-02T09:00:00Z');
  f.run({ submissionId: alphaLast, status: 'failed', startedAt: '2025-03-02T09:30:00Z', error: 'out of memory' });
  pass(f.run({ submissionId: alphaLast, status: 'complete', startedAt: '2025-03-02T10:00:00Z', medianMs: 450, accNorm: [0.399, 0.0049] }), 0.399);
  pass(
    f.run({
      id: 'alpha-new',
      submissionId: alphaLast,
      status: 'complete',
      startedAt: '2025-03-02T11:00:00Z',
      finishedAt: '2025-03-02T11:30:00Z',
      medianMs: 400,
      referenceMatch: 1,
      reportPath: 'reports/alpha-new',
      acc: [0.31, 0.0046],
      accNorm: [0.398, 0.0049],
    }),
    0.398,
  );
  f.run({ submissionId: alphaLast, kind: 'run', status: 'complete', startedAt: '2025-03-02T12:00:00Z', medianMs: 100, accNorm: [0.41, 0.0049] });

  const bravo = f.team('Bravo');
  const bravoSub = f.submission(bravo, '2025-03-01T12:00:00Z');
  pass(
    f.run({ id: 'bravo-1', submissionId: bravoSub, status: 'complete', startedAt: '2025-03-01T13:00:00Z', medianMs: 400, referenceMatch: 1, machine: REFERENCE_MACHINE, reportPath: path.join(dbDir, 'reports', 'bravo-1', 'index.html'), acc: [0.3, 0.0046], accNorm: [0.401, 0.0049] }),
    0.401,
    2.5,
  );

  const charlie = f.team('Charlie');
  const charlieSub = f.submission(charlie, '2025-03-01T08:00:00Z');
  pass(f.run({ id: 'charlie-1', submissionId: charlieSub, status: 'complete', startedAt: '2025-03-01T09:00:00Z', medianMs: 800, referenceMatch: 0, machine: OTHER_MACHINE, accNorm: [0.402, 0.0049] }), 0.402, 1.25);
  f.run({ submissionId: charlieSub, status: 'failed', startedAt: '2025-03-01T20:00:00Z', error: 'node lost' });

  const india = f.team('India');
  const india50 = f.submission(india, '2025-03-01T04:00:00Z', { id: 50 });
  const india40 = f.submission(india, '2025-03-01T04:00:00Z', { id: 40 });
  pass(f.run({ id: 'india-50', submissionId: india50, status: 'complete', startedAt: '2025-03-01T05:00:00Z', medianMs: 900, machine: '{"cpu": "a toaster"', accNorm: [0.397, 0.0049] }), 0.397);
  pass(f.run({ submissionId: india40, status: 'complete', startedAt: '2025-03-01T05:00:00Z', medianMs: 50, accNorm: [0.4, 0.0049] }), 0.4);

  const hostile = f.team(HOSTILE);
  const hostileSub = f.submission(hostile, '2025-03-01T03:00:00Z');
  pass(f.run({ id: 'hostile-1', submissionId: hostileSub, status: 'complete', startedAt: '2025-03-01T04:00:00Z', medianMs: 950, accNorm: [0.4, 0.0049] }), 0.4);

  const delta = f.team('Delta');
  const deltaSub = f.submission(delta, '2025-03-01T02:00:00Z');
  f.gate(f.run({ id: 'delta-1', submissionId: deltaSub, status: 'complete', startedAt: '2025-03-01T03:00:00Z', medianMs: 200, accNorm: [0.38, 0.0048] }), base, { baseline: 0.4, value: 0.38, speedup: 5 });

  const hotel = f.team('Hotel');
  f.run({ id: 'hotel-1', submissionId: f.submission(hotel, '2025-03-01T05:00:00Z'), status: 'complete', startedAt: '2025-03-01T06:00:00Z', medianMs: 300, accNorm: [0.4, 0.0049] });

  const golf = f.team('Golf');
  f.run({ id: 'golf-1', submissionId: f.submission(golf, '2025-03-02T06:00:00Z'), status: 'running', startedAt: '2025-03-02T07:00:00Z' });

  const echo = f.team('Echo');
  pass(f.run({ submissionId: f.submission(echo, '2025-03-01T07:00:00Z'), status: 'complete', startedAt: '2025-03-01T08:00:00Z', medianMs: 100, accNorm: [0.4, 0.0049] }), 0.4);
  f.submission(echo, '2025-03-03T07:00:00Z');

  const foxtrot = f.team('Foxtrot');
  f.run({ id: 'foxtrot-1', submissionId: f.submission(foxtrot, '2025-03-01T06:00:00Z'), status: 'failed', startedAt: '2025-03-01T07:00:00Z', error: FOXTROT_ERROR });
  return f;
}

/**
 * Baselines whose times are whatever a store may hold, each judging one team that passed its gate:
 *
 *   team         own time   baseline (its time)          stored speedup   speedup shown
 *   StoredNeg    120 ms     b-ok (600 ms)                -3 (no measure)  600 / 120 = 5
 *   NullBase     200 ms     b-null (NULL)                none             none
 *   ZeroBase     250 ms     b-zero (0)                   none             none
 *   Honest       300 ms     b-ok (600 ms)                none             600 / 300 = 2
 *   NegBase      350 ms     b-neg (-600)                 none             none
 *   InfBase      400 ms     b-inf (Infinity)             none             none
 *   NanBase      450 ms     b-nan (the text 'NaN')       none             none
 *   RunningBase  500 ms     b-running (still running)    none             none
 *
 * Ranked by their own times, in this order; the baselines differ, so each row names its own. Returns the rows
 * above as [team, time, baseline, stored speedup].
 */
export function buildOddBaselines(f: FixtureDb): [string, number, string, number | null][] {
  const baseline = (id: string, medianMs: number | null, status: 'complete' | 'running' = 'complete') =>
    f.run({ id, submissionId: null, kind: 'baseline', status, startedAt: '2025-03-01T00:00:00Z', medianMs });
  baseline('b-ok', 600);
  baseline('b-null', null);
  baseline('b-zero', 0);
  baseline('b-neg', -600);
  baseline('b-inf', Number.POSITIVE_INFINITY);
  baseline('b-nan', null);
  // SQLite keeps text that is not a number as text, even in a REAL column.
  f.db.prepare("UPDATE runs SET score = 'NaN' WHERE id = 'b-nan'").run();
  baseline('b-running', null, 'running');
  const teams: [string, number, string, number | null][] = [
    ['StoredNeg', 120, 'b-ok', -3],
    ['NullBase', 200, 'b-null', null],
    ['ZeroBase', 250, 'b-zero', null],
    ['Honest', 300, 'b-ok', null],
    ['NegBase', 350, 'b-neg', null],
    ['InfBase', 400, 'b-inf', null],
    ['NanBase', 450, 'b-nan', null],
    ['RunningBase', 500, 'b-running', null],
  ];
  for (const [team, ms, base, speedup] of teams) {
    const run = f.run({ id: team, submissionId: f.submission(f.team(team), '2025-03-01T01:00:00Z'), status: 'complete', startedAt: '2025-03-01T02:00:00Z', medianMs: ms, accNorm: [0.4, 0.01] });
    f.gate(run, base, { baseline: 0.4, value: 0.4, speedup });
  }
  return teams;
}
