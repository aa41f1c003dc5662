/**
 * A re-run takes a seeded subset (or every item): a recorded baseline whose items were the first ones or listed
 * indices scored other items, even with the same count, limit and seed, and cannot judge it.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { configSchema, type ConfigInput } from '../../src/evaluators/inference/config.js';
import { findBaseline } from '../../src/evaluators/inference/rerun/baseline.js';
import { createRun, openInferenceStore } from '../../src/evaluators/inference/store/runs.js';
import { sqlite3 } from '../store/helpers.js';

describe('rerun baselines and how their items were chosen', () => {
  it('refuses a baseline of the first items or of listed indices, and takes a seeded one', async () => {
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'optibench-baseline-selection-')), 'runs.sqlite');
    const store = openInferenceStore(file);
    const add = (id: string, config: ConfigInput) =>
      createRun(store, { id, kind: 'baseline', config: configSchema.parse(config), datasetPath: 'd.jsonl', datasetSha256: 'abc', totalItems: 3, shuffleSeed: 1 });
    add('first', { limit: 3, limitMode: 'first' });
    add('indices', { samples: [0, 1, 2] });
    add('seeded', { limit: 3 });
    // Complete, with a results path, as a finished baseline is: only the selection can make them unfit.
    sqlite3(file, "UPDATE runs SET status = 'complete', results_path = 'r.json'");
    const selection = { datasetSha256: 'abc', totalItems: 3, limit: 3, seed: 1234 };
    const refusal = (id: string) => {
      try {
        findBaseline(store, selection, id);
      } catch (error) {
        expect(error).toBeInstanceOf(OptibenchError);
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(refusal('first')).toBe("run first cannot be the baseline: it scored the first items (limitMode 'first'), and a re-run takes a seeded subset");
    expect(refusal('indices')).toBe('run indices cannot be the baseline: it scored items chosen by index (samples), and a re-run takes a seeded subset');
    expect(refusal('seeded')).toBe('accepted');
    expect(findBaseline(store, selection)?.id).toBe('seeded');
    store.close();
  });
});
