/**
 * `tokenizer bench` takes minutes per repeat on the full HellaSwag set: it reports how far each repeat got,
 * and what it reports is not part of what it times.
 */
import { describe, expect, it } from 'vitest';
import { benchTokenizer, PROGRESS_CHUNK } from '../../src/tokenizers/bench.js';
import { LLAMA_TOKENIZER_MODEL, sharedFile } from '../helpers/shared.js';

describe('tokenizer bench progress', () => {
  it('reports the strings encoded so far within every repeat, up to all of them', async () => {
    // 2.5 chunks: two full chunks and a partial one.
    const strings = Array.from({ length: PROGRESS_CHUNK * 2 + PROGRESS_CHUNK / 2 }, (_, i) => `item ${i}: a man is sitting on a roof.`);
    const reports: [number, number, number][] = [];
    const result = await benchTokenizer(sharedFile(LLAMA_TOKENIZER_MODEL), strings, {
      repeats: 2,
      python: null,
      onEncoded: (done, total, repeat) => reports.push([done, total, repeat]),
    });
    const chunkEnds = [PROGRESS_CHUNK, 2 * PROGRESS_CHUNK, strings.length];
    expect(reports).toEqual([0, 1].flatMap((repeat) => chunkEnds.map((done) => [done, strings.length, repeat])));
    expect(result.strings).toBe(strings.length);
  });

  it('leaves the time the progress callback takes out of the measurement', async () => {
    const strings = Array.from({ length: PROGRESS_CHUNK * 3 }, (_, i) => `string ${i}`);
    const stall = 1000;
    const result = await benchTokenizer(sharedFile(LLAMA_TOKENIZER_MODEL), strings, {
      repeats: 1,
      python: null,
      onEncoded: () => {
        const until = Date.now() + stall;
        while (Date.now() < until);
      },
    });
    // Three stalls of a second would be 3 s inside the clock; 3,000 short strings encode far faster.
    expect(result.optibench.medianMs).toBeLessThan(3 * stall);
  });
});
