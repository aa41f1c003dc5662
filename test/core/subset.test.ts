/** Item selection: lm-eval's first-N and listed indices beside the seeded subset, with hand-computed lists. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { describeSelection, formatIndexList, limitCount, parseIndexList, selectDocs, selectSubset } from '../../src/core/subset.js';
import { loadConfig, selectionOf } from '../../src/evaluators/inference/config.js';
import { checkSameSelection } from '../../src/evaluators/inference/run-one.js';
import { configSchema } from '../../src/evaluators/inference/config.js';

const docs = Array.from({ length: 10 }, (_, i) => `doc${i}`);

function errorOf(fn: () => unknown): OptibenchError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(OptibenchError);
    return error as OptibenchError;
  }
  throw new Error('expected an error');
}

describe('--samples index lists', () => {
  it('reads single indices and inclusive ranges, sorted', () => {
    expect(parseIndexList('0,5,7-9')).toEqual([0, 5, 7, 8, 9]);
    expect(parseIndexList(' 12 , 3,4 - 6')).toEqual([3, 4, 5, 6, 12]);
    expect(parseIndexList('7-7')).toEqual([7]);
  });

  it('refuses malformed lists, naming the part that is wrong', () => {
    expect(errorOf(() => parseIndexList('1,,2')).message).toContain('empty entry');
    expect(errorOf(() => parseIndexList('9-7')).message).toContain('"9-7" runs backwards (write 7-9)');
    expect(errorOf(() => parseIndexList('1,x')).message).toContain('got "x"');
    expect(errorOf(() => parseIndexList('-1')).message).toContain('got "-1"');
    expect(errorOf(() => parseIndexList('1.5')).message).toContain('got "1.5"');
    expect(errorOf(() => parseIndexList('3,1-4')).message).toContain('item index 3 is listed twice');
  });

  it('writes lists back compactly', () => {
    expect(formatIndexList([9, 0, 5, 7, 8])).toBe('0,5,7-9');
    expect(formatIndexList([1, 2, 4])).toBe('1,2,4');
  });
});

describe('selection modes', () => {
  it('takes a share below 1 as lm-eval does: ceil(total * share)', () => {
    // 10042 * 0.1 = 1004.2 -> 1005; 40 * 0.25 = 10 exactly; 3 * 0.5 = 1.5 -> 2.
    expect(limitCount(10042, 0.1)).toBe(1005);
    expect(limitCount(40, 0.25)).toBe(10);
    expect(limitCount(3, 0.5)).toBe(2);
    expect(limitCount(3, 7)).toBe(3);
    expect(limitCount(3, null)).toBe(3);
    expect(errorOf(() => limitCount(3, 1.5)).message).toContain('a fraction between 0 and 1');
  });

  it('first: the first n documents, or the first share', () => {
    expect(selectDocs(docs, { mode: 'first', limit: 3 })).toEqual(['doc0', 'doc1', 'doc2']);
    expect(selectDocs(docs, { mode: 'first', limit: 0.25 })).toEqual(['doc0', 'doc1', 'doc2']); // ceil(2.5)
    expect(selectDocs(docs, { mode: 'first', limit: null })).toEqual(docs);
  });

  it('indices: exactly those, in dataset order; an index past the end is refused', () => {
    expect(selectDocs(docs, { mode: 'indices', indices: [9, 0, 5] })).toEqual(['doc0', 'doc5', 'doc9']);
    expect(errorOf(() => selectDocs(docs, { mode: 'indices', indices: [2, 10, 11] })).message).toBe(
      'the dataset has 10 items (indices 0-9), so indices 10,11 do not exist',
    );
  });

  it('seeded: the same subset as before selections were recorded, and a share of the items', () => {
    expect(selectDocs(docs, { mode: 'seeded', limit: 4, seed: 1234 })).toEqual(selectSubset(docs, 4, 1234));
    expect(selectDocs(docs, { mode: 'seeded', limit: 0.35, seed: 1234 })).toEqual(selectSubset(docs, 4, 1234)); // ceil(3.5)
  });

  it('says which items were scored and how', () => {
    expect(describeSelection({ mode: 'first', limit: 3 }, 3, 10)).toBe("3 of 10 items (the first ones: limit 3, as lm-eval's --limit)");
    expect(describeSelection({ mode: 'first', limit: 0.25 }, 3, 10)).toBe("3 of 10 items (the first ones: limit 0.25, as lm-eval's --limit)");
    expect(describeSelection({ mode: 'indices', indices: [0, 5, 7, 8, 9] }, 5, 10)).toBe("5 of 10 items (indices 0,5,7-9, as lm-eval's --samples)");
    expect(describeSelection({ mode: 'seeded', limit: 4, seed: 7 }, 4, 10)).toBe('4 of 10 items (seeded subset: limit 4, seed 7)');
    expect(describeSelection({ mode: 'seeded', limit: null, seed: 7 }, 10, 10)).toBe('10 of 10 items');
    expect(describeSelection({ mode: 'seeded', limit: 3, seed: 7 }, 3, 10042, (n) => n.toLocaleString('en'))).toBe('3 of 10,042 items (seeded subset: limit 3, seed 7)');
  });
});

describe('selection in the configuration', () => {
  it('reads limitMode and samples from a config file, and refuses samples with a limit at its line', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-subset-'));
    const ok = path.join(dir, 'first.yaml');
    await writeFile(ok, 'limit: 0.5\nlimitMode: first\n');
    expect(selectionOf((await loadConfig(ok)).config)).toEqual({ mode: 'first', limit: 0.5 });
    const both = path.join(dir, 'both.yaml');
    await writeFile(both, 'batchSize: 4\nlimit: 5\nsamples: [1, 2]\n');
    const error = await loadConfig(both).catch((e: unknown) => e as OptibenchError);
    expect(error).toBeInstanceOf(OptibenchError);
    expect((error as OptibenchError).oneLine()).toBe(`${both}:3: samples: give either a limit or item indices (samples), not both`);
    // A flag's indices replace the file's limit (run-flags sets limit null with them).
    expect(selectionOf((await loadConfig(both, { samples: [4, 2], limit: null })).config)).toEqual({ mode: 'indices', indices: [4, 2] });
  });

  it('leaves a configuration without them as it was (same keys, so the same config hash)', () => {
    expect(Object.keys(configSchema.parse({}))).not.toContain('limitMode');
    expect(Object.keys(configSchema.parse({}))).not.toContain('samples');
  });

  it('compare and bench refuse configurations that choose items differently', () => {
    const a = { label: 'baseline', config: configSchema.parse({ limit: 5 }) };
    const b = { label: 'candidate', config: configSchema.parse({ limit: 5, limitMode: 'first' }) };
    expect(errorOf(() => checkSameSelection(a, b)).message).toBe('the baseline and the candidate would score different items: limitMode is undefined and "first"');
    const c = { label: 'candidate', config: configSchema.parse({ samples: [1, 2] }) };
    const d = { label: 'baseline', config: configSchema.parse({ samples: [1, 2] }) };
    expect(() => checkSameSelection(c, d)).not.toThrow();
  });
});
