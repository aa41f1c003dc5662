import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { selectSubset } from '../../src/core/subset.js';
import {
  loadHellaswag,
  parseJsonl,
  readDatasetBytes,
  type HellaswagDoc,
} from '../../src/tasks/hellaswag/index.js';
import { asJsonl, REAL_ITEMS } from './hellaswag-fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Not skipped when absent: every developer and CI run has ../shared, and a missing file must fail loudly.
const VAL_BZ2 = path.resolve(ROOT, '../shared/data/hellaswag/hellaswag_val_full.txt.bz2');
const VAL_BZ2_SHA256 = '50b637899e4263c2bc456c2dc726c95d2c8cd8e2a552ea5bd7719ce3cb03fe5b';

// The embedded default set (src/core/embedded-default.ts points the runner at the same file).
const TINY = path.join(ROOT, 'datasets', 'tiny-hellaswag', 'hellaswag_tiny_val.jsonl');

const sha256 = (bytes: Buffer | Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('the full validation set (text form, bzip2)', () => {
  let docs: HellaswagDoc[];
  let rawLines: string[];

  beforeAll(async () => {
    docs = await loadHellaswag(VAL_BZ2);
    rawLines = (await readDatasetBytes(VAL_BZ2)).toString('utf8').split('\n');
  });

  it('is the published file', () => {
    expect(sha256(readFileSync(VAL_BZ2))).toBe(VAL_BZ2_SHA256);
  });

  it('decompresses to the same bytes as the system bzip2', async () => {
    const reference = spawnSync('bzip2', ['-dc', VAL_BZ2], { maxBuffer: 64 * 1024 * 1024 });
    expect(reference.error).toBeUndefined();
    expect(reference.status).toBe(0);
    const ours = await readDatasetBytes(VAL_BZ2);
    expect(ours.length).toBe(reference.stdout.length);
    expect(sha256(ours)).toBe(sha256(reference.stdout));
  });

  it('holds 10,042 documents of 4 choices with gold labels 0-3', () => {
    expect(docs).toHaveLength(10_042);
    const golds = [0, 0, 0, 0];
    docs.forEach((doc, i) => {
      expect(doc.index).toBe(i);
      expect(doc.source).toBe(`${VAL_BZ2}:${6 * i + 1}`);
      expect(doc.choices).toHaveLength(4);
      for (const choice of doc.choices) expect(choice.trim()).not.toBe('');
      expect([0, 1, 2, 3]).toContain(doc.gold);
      golds[doc.gold]!++;
    });
    expect(golds).toEqual([2515, 2485, 2584, 2458]);
  });

  it('repairs exactly the strings preprocess.ts says it does', () => {
    // 3,236 ActivityNet queries get ctx_b capitalized, 2 queries and 11 endings lose a leftover bracket.
    let queries = 0;
    let choices = 0;
    docs.forEach((doc, i) => {
      if (doc.query !== rawLines[6 * i]) queries++;
      doc.choices.forEach((choice, k) => {
        if (choice !== rawLines[6 * i + 2 + k]) choices++;
      });
    });
    expect(queries).toBe(3236 + 2);
    expect(choices).toBe(11);
    expect(docs[0]!.query).toBe('Roof shingle removal: A man is sitting on a roof. He');
  });

  it('agrees with the jsonl loader on the same items', () => {
    const fromJsonl = parseJsonl(asJsonl(Object.values(REAL_ITEMS)), 'real.jsonl');
    const positions = [0, 1, 8, 3505, 5592]; // roof, barbell, knife, toddler, pixie
    fromJsonl.forEach((doc, i) => {
      const text = docs[positions[i]!]!;
      expect(doc.query).toBe(text.query);
      expect(doc.choices).toEqual(text.choices);
      expect(doc.gold).toBe(text.gold);
    });
  });

  describe('--limit subsets', () => {
    const indices = (subset: readonly HellaswagDoc[]): number[] => subset.map((doc) => doc.index);

    it('are the same for the same seed and differ for another', () => {
      expect(indices(selectSubset(docs, 100, 1234))).toEqual(indices(selectSubset(docs, 100, 1234)));
      expect(indices(selectSubset(docs, 100, 1234))).not.toEqual(indices(selectSubset(docs, 100, 1235)));
    });

    it('are sorted by dataset index and keep index and source', () => {
      const subset = selectSubset(docs, 500, 7);
      const idx = indices(subset);
      expect(idx).toEqual([...idx].sort((a, b) => a - b));
      expect(new Set(idx).size).toBe(500);
      for (const doc of subset) expect(doc).toBe(docs[doc.index]);
    });

    it('nest: the subset for N is inside the one for N + 1', () => {
      let previous = new Set<number>();
      for (const n of [1, 2, 3, 10, 11, 100, 101, 1000]) {
        const current = new Set(indices(selectSubset(docs, n, 42)));
        expect(current.size).toBe(n);
        for (const i of previous) expect(current.has(i)).toBe(true);
        previous = current;
      }
    });

    it('keep everything when the limit reaches the total', () => {
      expect(selectSubset(docs, 10_042, 1)).toEqual(docs);
      expect(selectSubset(docs, 50_000, 1)).toEqual(docs);
    });
  });
});

describe('the embedded tiny dataset', () => {
  it('loads as 40 valid items, ten per gold label', async () => {
    const docs = await loadHellaswag(TINY);
    expect(docs).toHaveLength(40);
    expect([0, 1, 2, 3].map((g) => docs.filter((d) => d.gold === g).length)).toEqual([10, 10, 10, 10]);
    for (const doc of docs) expect(doc.choices).toHaveLength(4);
  });

  it('is in the official format with every field', () => {
    const lines = readFileSync(TINY, 'utf8').trimEnd().split('\n');
    lines.forEach((line, i) => {
      const item = JSON.parse(line) as Record<string, unknown>;
      expect(Object.keys(item).sort()).toEqual(['activity_label', 'ctx', 'ctx_a', 'ctx_b', 'endings', 'ind', 'label', 'source_id', 'split', 'split_type']);
      expect(item).toMatchObject({ split: 'val', split_type: 'indomain', source_id: `tiny~${i + 1}` });
      expect(item.ctx).toBe(item.ctx_b === '' ? item.ctx_a : `${String(item.ctx_a)} ${String(item.ctx_b)}`);
    });
  });

  it('exercises the preprocessing (expectations worked by hand)', async () => {
    const docs = await loadHellaswag(TINY);
    // Item 7: ctx_b "the woman in the white Visor".capitalize() -> "The woman in the white visor".
    expect(docs[6]!.query).toBe(
      'Playing tennis: Two women stand on opposite sides of a clay court. One of them bounces a yellow ball several times. The woman in the white visor',
    );
    // Item 2: " [title]" -> "sink.  Remove"; "[header]", "[step]" deleted; spaces folded.
    expect(docs[1]!.query).toBe(
      'Home and Garden: How to unclog a bathroom sink. Remove the stopper. Most stoppers lift straight out or come free with a quarter turn. Wipe away any hair wrapped around the rod.',
    );
    // An ending that starts with a marker keeps lm-eval's leading space: "[title] Pour ... [step] Hot" ->
    // " Pour ...  Hot" -> " Pour ... Hot".
    expect(docs[1]!.choices[0]).toBe(' Pour boiling water down the drain. Hot water softens soap scum and grease so that it can be flushed away.');
    // Item 20: "[substeps] Glue ... instead. [optional] Let ..." -> " Glue ... instead.  Let ..." -> one space.
    expect(docs[19]!.choices[2]).toBe(' Glue the button to the needle instead. Let it dry overnight.');
    // Item 37: "after tuning, the Man" -> "After tuning, the man".
    expect(docs[36]!.query.endsWith('while listening closely. After tuning, the man')).toBe(true);
  });
});

describe('bad input', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'optibench-hellaswag-'));
  const write = (name: string, content: string | Buffer): string => {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    return file;
  };
  const good = REAL_ITEMS.roof;
  const sixLines = ['Label: A man stands. he', '2', 'a.', 'b.', 'c.', 'd.'];

  /** The load fails with an OptibenchError at this file and line whose message matches. */
  async function expectFailure(
    file: string,
    where: { line?: number; key?: string; message: RegExp },
  ): Promise<void> {
    const error = await loadHellaswag(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OptibenchError);
    const failure = error as OptibenchError;
    expect(failure.message).toMatch(where.message);
    expect(failure.location?.file).toBe(file);
    expect(failure.location?.line).toBe(where.line);
    if (where.key !== undefined) expect(failure.location?.key).toBe(where.key);
    const oneLine = failure.oneLine();
    expect(oneLine).not.toContain('\n');
    expect(oneLine.startsWith(where.line === undefined ? file : `${file}:${where.line}`)).toBe(true);
  }

  it('names a missing file in one line', async () => {
    await expectFailure(path.join(dir, 'nope.jsonl'), { message: /no such file/ });
  });

  it('refuses invalid JSON on the right line (blank lines count)', async () => {
    const file = write('bad-json.jsonl', `${JSON.stringify(good)}\n\n{"ind": 1,\n`);
    await expectFailure(file, { line: 3, message: /invalid JSON/ });
  });

  it('refuses a line that is not an object', async () => {
    await expectFailure(write('array.jsonl', '[1, 2]\n'), { line: 1, message: /expected a JSON object/ });
  });

  it('refuses missing and wrong-typed fields', async () => {
    const { ctx_b: _dropped, ...noCtxB } = good;
    await expectFailure(write('missing.jsonl', asJsonl([good, noCtxB])), { line: 2, key: 'ctx_b', message: /missing field "ctx_b"/ });
    await expectFailure(write('typed.jsonl', asJsonl([{ ...good, activity_label: 5 }])), {
      line: 1,
      key: 'activity_label',
      message: /expected a string, got number 5/,
    });
    await expectFailure(write('typed-ind.jsonl', asJsonl([{ ...good, ind: 'x' }])), { line: 1, key: 'ind', message: /integer/ });
  });

  it('requires exactly 4 non-empty endings', async () => {
    await expectFailure(write('three.jsonl', asJsonl([good, good, { ...good, endings: ['a', 'b', 'c'] }])), {
      line: 3,
      key: 'endings',
      message: /exactly 4 endings, got 3/,
    });
    await expectFailure(write('not-list.jsonl', asJsonl([{ ...good, endings: 'abcd' }])), { line: 1, key: 'endings', message: /list of 4 strings/ });
    await expectFailure(write('empty-ending.jsonl', asJsonl([{ ...good, endings: ['a', '', 'c', 'd'] }])), {
      line: 1,
      key: 'endings[1]',
      message: /empty/,
    });
    await expectFailure(write('marker-ending.jsonl', asJsonl([{ ...good, endings: ['a', 'b', ' [step] ', 'd'] }])), {
      line: 1,
      key: 'endings[2]',
      message: /empty \(after preprocessing\)/,
    });
    await expectFailure(write('null-ending.jsonl', asJsonl([{ ...good, endings: ['a', 'b', 'c', null] }])), {
      line: 1,
      key: 'endings[3]',
      message: /expected a string, got null/,
    });
  });

  it('requires a label 0-3', async () => {
    await expectFailure(write('label4.jsonl', asJsonl([{ ...good, label: 4 }])), { line: 1, key: 'label', message: /0-3.*got 4/ });
    await expectFailure(write('label-str.jsonl', asJsonl([{ ...good, label: 'two' }])), { line: 1, key: 'label', message: /integer 0-3/ });
    await expectFailure(write('label-float.jsonl', asJsonl([{ ...good, label: 1.5 }])), { line: 1, key: 'label', message: /integer 0-3/ });
    const { label: _dropped, ...noLabel } = good;
    await expectFailure(write('label-missing.jsonl', asJsonl([noLabel])), { line: 1, key: 'label', message: /missing field "label"/ });
  });

  it('accepts the Hugging Face string labels', async () => {
    const docs = await loadHellaswag(write('label-string.jsonl', asJsonl([{ ...good, label: '2' }])));
    expect(docs[0]!.gold).toBe(2);
  });

  it('refuses empty files of either form', async () => {
    await expectFailure(write('empty.jsonl', ''), { message: /no HellaSwag items/ });
    await expectFailure(write('blank.jsonl', '\n  \n'), { message: /no HellaSwag items/ });
    await expectFailure(write('empty.txt', ''), { message: /no HellaSwag items/ });
  });

  it('names the line where a truncated text item starts', async () => {
    const file = write('truncated.txt', [...sixLines, ...sixLines.slice(0, 4)].join('\n') + '\n');
    await expectFailure(file, { line: 7, message: /truncated: the item starting here has 4 of its 6 lines/ });
  });

  it('refuses a text label line that is not an integer 0-3', async () => {
    const bad = [...sixLines];
    bad[1] = 'two';
    await expectFailure(write('label.txt', [...sixLines, ...bad].join('\n')), { line: 8, message: /gold label, an integer 0-3, got "two"/ });
    bad[1] = '4';
    await expectFailure(write('label4.txt', bad.join('\n')), { line: 2, message: /got "4"/ });
  });

  it('refuses an empty text ending or context line', async () => {
    const noEnding = [...sixLines];
    noEnding[4] = '';
    await expectFailure(write('ending.txt', [...sixLines, ...noEnding].join('\n')), { line: 11, message: /ending 3 of 4, got an empty line/ });
    const noContext = [...sixLines];
    noContext[0] = ' ';
    await expectFailure(write('context.txt', noContext.join('\n')), { line: 1, message: /activity_label: context/ });
  });

  it('reads bzip2 transparently and refuses a broken one', async () => {
    const compressed = spawnSync('bzip2', ['-c'], { input: asJsonl([good, good]) }).stdout;
    const docs = await loadHellaswag(write('two.jsonl.bz2', compressed));
    expect(docs).toHaveLength(2);
    expect(docs[1]!.source).toBe(`${path.join(dir, 'two.jsonl.bz2')}:2`);
    // Detected by its magic bytes even without the extension.
    expect(await loadHellaswag(write('two-compressed.jsonl', compressed))).toHaveLength(2);
    await expectFailure(write('plain.txt.bz2', sixLines.join('\n')), { message: /not a valid bzip2 file/ });
    await expectFailure(write('cut.jsonl.bz2', compressed.subarray(0, compressed.length - 20)), { message: /not a valid bzip2 file/ });
  });

  it('refuses a --limit that is not a positive integer', () => {
    for (const limit of [0, -3, 1.5, Number.NaN]) {
      expect(() => selectSubset([1, 2, 3], limit, 1)).toThrow(OptibenchError);
      try {
        selectSubset([1, 2, 3], limit, 1);
      } catch (error) {
        expect((error as OptibenchError).location?.key).toBe('limit');
      }
    }
  });
});
