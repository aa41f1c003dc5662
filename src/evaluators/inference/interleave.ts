/**
 * Round-robin measurement of several configurations: every configuration is loaded (one after another, so
 * their loads and warm-ups do not overlap), then their measured passes run A B C, A B C, ... one at a time,
 * so a slow phase of a shared machine hits every configuration alike instead of the one that happened to
 * run then. The runs themselves are ordinary runs (`runner.ts`); each waits at its pacer before a pass and
 * before its after-inference work (micro-benchmarks, close), and this module decides whose turn it is.
 */
import { OptibenchError } from '../../core/errors.js';

/**
 * The runner's side of the turns: it awaits each call before doing what the call is named after. A turn is a
 * measured pass, or with segmented passes one segment of one (turn = repeat x segments + segment).
 */
export interface Pacer {
  /** Resolves when measured turn `turn` (0-based) may start; rejects when the measurement stopped. */
  beforeTurn(turn: number): Promise<void>;
  /** Turn `turn` finished; `ms` is its measured time. */
  afterTurn(turn: number, ms: number): void;
  /** Resolves when the run may do its after-inference work and close its backend. */
  beforeFinish(): Promise<void>;
}

/** One measured turn (a pass, or a segment of one), in the order the turns ran. */
export interface PassRecord {
  /** The turn's index: the round of the round-robin it belongs to. */
  readonly round: number;
  readonly configuration: number;
  readonly label: string;
  readonly ms: number;
}

export interface InterleaveHooks {
  /**
   * Called with no pass running: before the first round (0), between rounds (the number of rounds done) and
   * after the last (`rounds`), e.g. to sample the machine's peak while every session is loaded.
   */
  readonly atBoundary?: (roundsDone: number) => Promise<void>;
  /** A configuration is about to load (its run starts). */
  readonly onStart?: (configuration: number) => void;
  readonly onPass?: (pass: PassRecord) => void;
}

export interface InterleavedRun<T> {
  readonly label: string;
  readonly start: (pacer: Pacer) => Promise<T>;
}

interface Gate {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
  settled: boolean;
}

function gate(): Gate {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A gate rejected while nobody waits on it must not crash the process as an unhandled rejection.
  promise.catch(() => {});
  const g: Gate = {
    promise,
    resolve: () => {
      g.settled = true;
      resolve();
    },
    reject: (error) => {
      g.settled = true;
      reject(error);
    },
    settled: false,
  };
  return g;
}

interface RunState<T> {
  /** The gate the run waits at, or null while it loads, runs a pass or finishes. */
  at: string | null;
  passes: number;
  settled: boolean;
  value?: T;
  /** Wakes the coordinator when the state changed; replaced after each wake-up. */
  changed: Gate;
}

/** Thrown into the runs still waiting when another configuration failed: they stop and keep what they have. */
export class MeasurementStopped extends OptibenchError {
  constructor(label: string) {
    super(`stopped because the ${label} configuration failed`);
  }
}

/**
 * Runs the configurations' passes round-robin for `rounds` rounds (a configuration with fewer repeats simply
 * sits out the later rounds). Resolves with every run's value and the passes in the order they ran; when a
 * run fails, the others are stopped at their next gate and the first failure is thrown once all have settled.
 */
export async function interleave<T>(runs: readonly InterleavedRun<T>[], rounds: number, hooks: InterleaveHooks = {}): Promise<{ values: T[]; passes: PassRecord[] }> {
  const passes: PassRecord[] = [];
  const gates = new Map<string, Gate>();
  const states: RunState<T>[] = runs.map(() => ({ at: null, passes: 0, settled: false, changed: gate() }));
  const started: Promise<void>[] = [];
  let failure: { error: unknown; label: string } | null = null;

  const wake = (i: number) => {
    const state = states[i]!;
    const previous = state.changed;
    state.changed = gate();
    previous.resolve();
  };
  const gateFor = (key: string): Gate => {
    let g = gates.get(key);
    if (!g) {
      g = gate();
      gates.set(key, g);
      if (failure) g.reject(new MeasurementStopped(failure.label));
    }
    return g;
  };
  const wait = (i: number, key: string): Promise<void> => {
    const g = gateFor(key);
    states[i]!.at = key;
    wake(i);
    return g.promise;
  };
  const release = (i: number, key: string) => {
    states[i]!.at = null;
    gateFor(key).resolve();
  };
  const until = async (i: number, done: () => boolean) => {
    while (!done()) await states[i]!.changed.promise;
  };
  const fail = (error: unknown, label: string) => {
    if (failure) return;
    failure = { error, label };
    for (const g of gates.values()) if (!g.settled) g.reject(new MeasurementStopped(label));
  };

  const pacer = (i: number): Pacer => ({
    beforeTurn: (turn) => wait(i, `pass:${i}:${turn}`),
    afterTurn: (turn, ms) => {
      const record = { round: turn, configuration: i, label: runs[i]!.label, ms };
      passes.push(record);
      hooks.onPass?.(record);
      states[i]!.passes = turn + 1;
      wake(i);
    },
    beforeFinish: () => wait(i, `finish:${i}`),
  });
  const boundary = async (roundsDone: number) => {
    try {
      await hooks.atBoundary?.(roundsDone);
    } catch (error) {
      fail(error, 'between-rounds measurement');
    }
  };

  // Load one at a time: the next configuration starts once this one waits for its first pass (or ended).
  for (const [i, run] of runs.entries()) {
    if (failure) break;
    hooks.onStart?.(i);
    const state = states[i]!;
    started.push(
      run.start(pacer(i)).then(
        (value) => {
          state.value = value;
          state.settled = true;
          wake(i);
        },
        (error: unknown) => {
          state.settled = true;
          fail(error, run.label);
          wake(i);
        },
      ),
    );
    await until(i, () => state.at !== null || state.settled);
  }
  for (let round = 0; round < rounds && !failure; round++) {
    await boundary(round);
    for (let i = 0; i < runs.length && !failure; i++) {
      const state = states[i]!;
      await until(i, () => state.at !== null || state.settled);
      if (state.at !== `pass:${i}:${round}`) continue;
      release(i, `pass:${i}:${round}`);
      await until(i, () => state.passes > round || state.settled);
    }
  }
  if (!failure) await boundary(rounds);
  // One at a time again: one configuration's micro-benchmarks must not share the CPU with another's.
  for (let i = 0; i < runs.length && !failure; i++) {
    const state = states[i]!;
    await until(i, () => state.at !== null || state.settled);
    if (state.at === `finish:${i}`) release(i, `finish:${i}`);
    await until(i, () => state.settled);
  }
  await Promise.all(started);
  if (failure) throw (failure as { error: unknown }).error;
  return { values: states.map((s) => s.value as T), passes };
}
