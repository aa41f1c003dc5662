import { describe, expect, it } from 'vitest';
import type { DocOutcome, LoglikelihoodAnswer } from '../../src/core/task.js';
import { aggregateOutcomes, argmax, hellaswagTask, meanStderr, scoreDoc, type HellaswagDoc } from '../../src/tasks/hellaswag/index.js';

const answers = (logprobs: number[]): LoglikelihoodAnswer[] => logprobs.map((logprob) => ({ logprob, isGreedy: false }));

describe('argmax (numpy semantics)', () => {
  it('takes the first of tied maxima and lets NaN win', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax([-2, -1, Number.NaN, Number.NaN])).toBe(2);
    expect(argmax([-Infinity, -Infinity])).toBe(0);
  });
});

describe('per-document scoring, worked by hand', () => {
  it('acc and acc_norm can disagree', () => {
    // acc: max(-10, -12, -8, -9) = -8 at 2 = gold -> correct.
    // acc_norm: -10/20 = -0.5, -12/30 = -0.4, -8/10 = -0.8, -9/40 = -0.225 -> max at 3 -> wrong.
    const outcome = scoreDoc({ gold: 2, choiceChars: [20, 30, 10, 40], loglikelihoods: [-10, -12, -8, -9] });
    expect(outcome).toEqual({ predictions: { acc: 2, acc_norm: 3 }, correct: { acc: 1, acc_norm: 0 } });
  });

  it('ties go to the first maximum', () => {
    // acc: -5 at 0 and 1 -> 0. acc_norm: -5/10 = -5/10 = -7/14 = -6/12 = -0.5 exactly -> 0. Gold 1: both wrong.
    const outcome = scoreDoc({ gold: 1, choiceChars: [10, 10, 14, 12], loglikelihoods: [-5, -5, -7, -6] });
    expect(outcome).toEqual({ predictions: { acc: 0, acc_norm: 0 }, correct: { acc: 0, acc_norm: 0 } });
  });

  it('normalizes by code points, not UTF-16 units', () => {
    // "𝄞𝄞𝄞 clef" is 8 code points (11 UTF-16 units); "crème" and "plain" 5; "xyz" 3.
    // acc: max(-8.8, -5.4, -5.6, -3.9) = -3.9 at 3 -> wrong (gold 0).
    // acc_norm by code points: -1.1, -1.08, -1.12, -1.3 -> 1. By UTF-16 units choice 0 would win with
    // -8.8/11 = -0.8, so the prediction tells the two apart.
    const doc: HellaswagDoc = { index: 0, source: 't:1', query: 'q', choices: ['𝄞𝄞𝄞 clef', 'crème', 'plain', 'xyz'], gold: 0 };
    const scored = hellaswagTask.toScored(doc, answers([-8.8, -5.4, -5.6, -3.9]));
    expect(scored).toEqual({ gold: 0, choiceChars: [8, 5, 5, 3], loglikelihoods: [-8.8, -5.4, -5.6, -3.9] });
    expect(hellaswagTask.score(scored)).toEqual({ predictions: { acc: 3, acc_norm: 1 }, correct: { acc: 0, acc_norm: 0 } });
  });

  it('refuses inconsistent input', () => {
    expect(() => scoreDoc({ gold: 0, choiceChars: [1, 2], loglikelihoods: [-1] })).toThrow();
    expect(() => scoreDoc({ gold: 4, choiceChars: [1, 2, 3, 4], loglikelihoods: [-1, -2, -3, -4] })).toThrow();
  });
});

describe('aggregation (mean and lm-eval mean_stderr)', () => {
  const outcome = (acc: 0 | 1, accNorm: 0 | 1): DocOutcome => ({ predictions: { acc: 0, acc_norm: 0 }, correct: { acc, acc_norm: accNorm } });

  it('matches the arithmetic', () => {
    // acc [1, 0, 0, 1]: mean 0.5; squared deviations 4 x 0.25 = 1; 1 / (4 - 1) = 1/3; sqrt(1/3) / sqrt(4)
    //   = 0.5773502691896257 / 2 = 0.28867513459481287.
    // acc_norm [0, 0, 0, 1]: mean 0.25; 3 x 0.0625 + 0.5625 = 0.75; 0.75 / 3 = 0.25; sqrt = 0.5; / 2 = 0.25.
    const result = hellaswagTask.aggregate([outcome(1, 0), outcome(0, 0), outcome(0, 0), outcome(1, 1)]);
    expect(result.acc!.value).toBe(0.5);
    expect(result.acc!.stderr).toBeCloseTo(0.28867513459481287, 15);
    expect(result.acc_norm).toEqual({ value: 0.25, stderr: 0.25 });
  });

  it('gives stderr 0 when every document agrees, and null for a single document', () => {
    expect(meanStderr([1, 1, 1])).toEqual({ value: 1, stderr: 0 });
    // One value has no sample deviation (n - 1 = 0): lm-eval reports "N/A"; we report null, never 0.
    const single = aggregateOutcomes([outcome(1, 0)]);
    expect(single.acc.value).toBe(1);
    expect(single.acc.stderr).toBeNull();
    expect(single.acc_norm.value).toBe(0);
    expect(single.acc_norm.stderr).toBeNull();
  });

  it('refuses zero documents and outcomes without a metric', () => {
    expect(() => meanStderr([])).toThrow();
    expect(() => aggregateOutcomes([{ predictions: {}, correct: { acc: 1 } }])).toThrow(/acc_norm/);
  });
});

describe('the task object', () => {
  const doc: HellaswagDoc = {
    index: 17,
    source: 'f.jsonl:18',
    query: 'Roof shingle removal: A man is sitting on a roof. He',
    choices: ['is using wrap.', 'is ripping tiles.', 'holds a cube.', 'starts pulling up roofing.'],
    gold: 3,
  };

  it('describes itself', () => {
    expect(hellaswagTask.name).toBe('hellaswag');
    expect(hellaswagTask.version).toBe('1.0');
    expect(hellaswagTask.metrics).toEqual(['acc', 'acc_norm']);
    expect(hellaswagTask.headlineMetric).toBe('acc_norm');
  });

  it('asks for each ending after a single space, labelled by position, without the gold', () => {
    const requests = hellaswagTask.requests(doc, 5);
    expect(requests).toEqual(
      doc.choices.map((choice, i) => ({ doc: 5, choice: i, context: doc.query, continuation: ` ${choice}` })),
    );
    expect(JSON.stringify(requests)).not.toContain('gold');
  });

  it('refuses a wrong number of answers', () => {
    expect(() => hellaswagTask.toScored(doc, answers([-1, -2]))).toThrow(/4 choices but 2 answers/);
  });
});
