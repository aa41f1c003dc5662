import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import type { ItemResult, InferenceResult } from '../../src/evaluators/inference/results.js';
import { resultsV1Schema, upgradeResultsV1, type ResultsV1 } from '../../src/evaluators/inference/results-v1.js';
import { formatBytes, formatDateTime, formatInt, formatMs, formatPercentStderr } from '../../src/report/filters.js';
import { renderRunReport, writeRunReport } from '../../src/evaluators/inference/report/render-run.js';

const HOSTILE = '<script>alert(1)</script>';
const HOSTILE_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;';
const WEIGHTS_SHA = 'ab12cd34ef56'.padEnd(64, '0');

/*
 * Three items with hand-chosen log-likelihoods. acc picks the largest log-likelihood, acc_norm the largest
 * log-likelihood per character:
 *   #7:  ll -10 -7 -8 -20, chars 10 20 30 40 -> per char -1 -.35 -.267 -.5  -> acc 1 (gold 2: wrong), acc_norm 2 (right)
 *   #42: ll -5 -9 -6 -7,   chars 10 40 20 20 -> per char -.5 -.225 -.3 -.35 -> acc 0 (gold 0: right), acc_norm 1 (wrong)
 *   #99: ll -3 -4 -5 -6,   chars 10 10 10 40 -> per char -.3 -.4 -.5 -.15   -> acc 0 (gold 3: wrong), acc_norm 3 (right)
 * acc = 1/3, acc_norm = 2/3; both stderr = sqrt(3/2 * p(1-p)) / sqrt(3) = 1/3.
 */
const ITEMS: ItemResult[] = [
  item(7, 2, [10, 20, 30, 40], [-10, -7, -8, -20], { acc: 1, acc_norm: 2 }, [false, false, true, false]),
  item(42, 0, [10, 40, 20, 20], [-5, -9, -6, -7], { acc: 0, acc_norm: 1 }, [true, false, false, false]),
  item(99, 3, [10, 10, 10, 40], [-3, -4, -5, -6], { acc: 0, acc_norm: 3 }, [false, false, false, false]),
];

function item(index: number, gold: number, choiceChars: number[], loglikelihoods: number[], predictions: Record<string, number>, isGreedy: boolean[]): ItemResult {
  return { index, gold, choiceChars, loglikelihoods, isGreedy, contextTokens: 30 + index, continuationTokens: choiceChars.map((c) => Math.ceil(c / 2)), predictions };
}

/** Written as a version 1 file (the layout these fixtures were made in) and read as version 2, as optibench reads one. */
function fixture(overrides: Partial<ResultsV1> = {}): InferenceResult {
  return upgradeResultsV1(resultsV1Schema.parse({
    schema: 'optibench/results',
    version: 1,
    runId: '2025-03-04T05-06-07Z-tinyllama',
    createdAt: '2025-03-04T05:06:07.000Z',
    status: 'complete',
    task: {
      name: 'hellaswag',
      version: '1.0',
      dataset: { path: 'datasets/hellaswag_val.jsonl', sha256: 'ff'.repeat(32), totalDocs: 10042, selectedDocs: 3, limit: 3, seed: 1234 },
    },
    model: {
      dir: `/models/${HOSTILE}`,
      weightsSha256: WEIGHTS_SHA,
      config: { model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 2048, num_hidden_layers: 22, unrelated_key: 'x' },
    },
    backend: { name: 'onnx', build: { opset: 17, fp16: false }, session: { intraOpNumThreads: 2 }, load: { sessionMs: 812 } },
    plugins: [
      { name: 'int8-quant', version: '0.2.0', source: 'plugins/int8-quant', options: { note: HOSTILE, bits: 8 }, facts: { quantizedTensors: 154 } },
      { name: 'kv-reuse', version: '1.0.0', source: 'npm:kv-reuse', options: null, facts: {} },
    ],
    config: { model: '/models/tinyllama', batchSize: 4, repeats: 3 },
    environment: {
      cpu: { brand: 'EPYC 9554', manufacturer: 'AMD', cores: 2, physicalCores: 2, speedGHz: 3.1 },
      memory: { totalBytes: 8 * 1024 ** 3 },
      gpus: [],
      os: { platform: 'linux', distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0', arch: 'x64' },
      hostname: 'bench-1',
      versions: { node: 'v20.19.0', optibench: '0.1.0', onnxruntime: '1.30.0' },
    },
    timings: {
      prepareMs: 80,
      loadMs: 12.3,
      warmupMs: 456,
      inference: { repeats: [1500, 1234.5, 1300], medianMs: 1300, minMs: 1234.5, maxMs: 1500 },
      totalMs: 65_000,
    },
    throughput: {
      requests: 12,
      batches: 3,
      tokensThroughModel: 12_345,
      paddedTokens: 13_000,
      pairwiseTokens: 20_000,
      itemsPerSecond: 3 / 1.3,
      tokensPerSecond: 12_345 / 1.3,
      pairwiseTokensPerSecond: 20_000 / 1.3,
    },
    peakRssBytes: 1.5 * 1024 ** 3,
    repeatMaxAbsDiff: 0,
    headlineMetric: 'acc_norm',
    metrics: { acc_norm: { value: 2 / 3, stderr: 1 / 3 }, acc: { value: 1 / 3, stderr: 1 / 3 } },
    items: ITEMS,
    ...overrides,
  }));
}

const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);

/**
 * Every non-void tag is closed, in order; a self-closed one (`<line .../>`, in the inline SVG charts) closes
 * itself. The templates hold no comments, scripts or `<` inside CSS.
 */
function expectBalancedTags(html: string): void {
  const stack: string[] = [];
  const mismatches: string[] = [];
  for (const [, slash, name, selfClosed] of html.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(\/?)>/g)) {
    const tag = name!.toLowerCase();
    if (VOID.has(tag) || selfClosed) continue;
    if (!slash) stack.push(tag);
    else if (stack.pop() !== tag) mismatches.push(`</${tag}> after <${stack.join('><')}>`);
  }
  expect(mismatches.slice(0, 3)).toEqual([]);
  expect(stack).toEqual([]);
}

/** The visible text of the body, entities decoded and whitespace collapsed, as a reader sees it. */
function textOf(html: string): string {
  const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", nbsp: ' ' };
  return html
    .replace(/<style>[\s\S]*?<\/style>/, '')
    .replace(/<[^>]*>/g, '')
    .replace(/&(amp|lt|gt|quot|#39|nbsp);/g, (_, e: string) => entities[e]!)
    .replace(/\s+/g, ' ');
}

describe('filters', () => {
  it('formats milliseconds with 3 significant digits and a fitting unit', () => {
    expect(formatMs(12.3)).toBe('12.3 ms');
    expect(formatMs(1234.5)).toBe('1.23 s');
    expect(formatMs(0.5)).toBe('0.500 ms');
    expect(formatMs(456)).toBe('456 ms');
    expect(formatMs(999.7)).toBe('1.00 s');
    expect(formatMs(59_990)).toBe('1 min 0 s');
    expect(formatMs(65_000)).toBe('1 min 5 s');
    expect(formatMs(3_725_000)).toBe('1 h 2 min');
    expect(formatMs(Number.NaN)).toBe('—');
  });

  it('formats proportions with stderr as percentages', () => {
    expect(formatPercentStderr(0.2512, 0.0043)).toBe('25.12 ± 0.43');
    expect(formatPercentStderr(2 / 3, 1 / 3)).toBe('66.67 ± 33.33');
    expect(formatPercentStderr(1, 0)).toBe('100.00 ± 0.00');
  });

  it('formats bytes in binary units', () => {
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.50 GiB');
    expect(formatBytes(512 * 1024 ** 2)).toBe('512.0 MiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(12)).toBe('12 B');
  });

  it('groups integer digits by thousands', () => {
    expect(formatInt(10_042)).toBe('10,042');
    expect(formatInt(1_234_567)).toBe('1,234,567');
    expect(formatInt(999)).toBe('999');
    expect(formatInt(-12_345)).toBe('-12,345');
    expect(formatInt(0)).toBe('0');
  });

  it('formats timestamps in UTC and passes unparsable ones through', () => {
    expect(formatDateTime('2025-03-04T05:06:07.000Z')).toBe('2025-03-04 05:06:07 UTC');
    expect(formatDateTime('yesterday-ish')).toBe('yesterday-ish');
  });
});

describe('renderRunReport', () => {
  const html = renderRunReport(fixture());
  const text = textOf(html);

  it('is one complete, balanced, script-free page', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    // The one link is the empty favicon that keeps a served report from asking for /favicon.ico.
    expect(html.replace('<link rel="icon" href="data:,">', '')).not.toMatch(/<script|<link|src=|https?:\/\//i);
    expectBalancedTags(html);
  });

  it('shows the header and metrics, headline first, as hand-computed strings', () => {
    expect(html).toContain('<h1>2025-03-04T05-06-07Z-tinyllama</h1>');
    expect(text).toContain('hellaswag 1.0 · 2025-03-04 05:06:07 UTC · status complete');
    expect(text).toContain('acc_norm (headline)66.67 ± 33.33 %');
    expect(text).toContain('acc33.33 ± 33.33 %');
    expect(text.indexOf('acc_norm (headline)')).toBeLessThan(text.indexOf('acc33.33'));
  });

  it('shows timings and throughput', () => {
    expect(text).toContain('inference wall time1.30 s median of 3 repeats; min 1.23 s, max 1.50 s');
    expect(text).toContain('items/s2.31');
    // 12,345 / 1.3 s and 20,000 / 1.3 s, rounded.
    expect(text).toContain('tokens/s9,496 lm-eval-equivalent 15,385');
    expect(text).toContain('tokens through the model12,345 per pass (13,000 with padding; lm-eval computes 20,000); 12 requests in 3 batches');
    expect(text).toContain('model load12.3 ms');
    expect(text).toContain('warm-up456 ms');
    expect(text).toContain('total run time1 min 5 s');
    expect(text).toContain('peak RSS1.50 GiB');
    expect(text).toContain('3 of 10,042 items (seeded subset: limit 3, seed 1234)');
  });

  it('shows the anti-cheat and resumption facts when the results carry them, and no such rows otherwise', () => {
    const html = renderRunReport(
      fixture({
        shuffleSeed: 77,
        configSha256: 'c0ffee'.padEnd(64, '1'),
        canary: { items: 2, requests: 8, tolerance: 1e-4, maxAbsDiff: 0 },
        resumed: { itemsCarriedOver: 1, itemsRun: 2 },
        timings: { ...fixture().timings, modelExecution: { repeats: [1000, 1100, 1200], medianMs: 1100, minMs: 1000, maxMs: 1200 }, harnessOverhead: 0.0125 },
      }),
    );
    const page = html.replace(/<[^>]+>/g, '');
    expect(page).toContain('item ordershuffled with seed 77');
    expect(page).toContain(`config sha256${'c0ffee'.padEnd(64, '1')}`);
    expect(page).toContain('canary2 items re-issued per pass (8 requests), largest difference 0 (tolerance 0.0001; not timed, not scored)');
    expect(page).toContain('resumed1 items carried over from the interrupted run, 2 computed now (the times cover only these)');
    expect(page).toContain('harness overhead1.25 % of a measured pass spent outside model executions');
    for (const row of ['item order', 'config sha256', 'canary', 'resumed', 'harness overhead']) expect(text).not.toContain(row);
  });

  it('shows the model, backend, plugins and environment', () => {
    expect(html).toContain(`<code title="${WEIGHTS_SHA}">ab12cd34ef56…</code>`);
    expect(text).toContain('hidden_size2048');
    expect(text).toContain('architectures["LlamaForCausalLM"]');
    expect(text).not.toContain('unrelated_keyx');
    expect(text).toContain('Backend: onnx');
    expect(text).toContain('intraOpNumThreads2');
    expect(html).toContain('<tr><td>int8-quant</td><td>0.2.0</td><td><code>plugins/int8-quant</code></td>');
    expect(text).toContain('quantizedTensors: 154');
    expect(html).toContain('<tr><td>kv-reuse</td><td>1.0.0</td><td><code>npm:kv-reuse</code></td><td><pre>null</pre></td>');
    expect(text).not.toContain('no plugins');
    expect(text).toContain('CPUEPYC 9554 (AMD, 3.10 GHz)');
    expect(text).toContain('cores2 logical, 2 physical');
    expect(text).toContain('RAM8.00 GiB');
    expect(text).toContain('GPUsnone');
    expect(text).toContain('onnxruntime1.30.0');
  });

  it("names the CPU's family, model and instruction sets when the results record them", () => {
    const base = fixture();
    const cpu = { ...base.environment.cpu, family: 25, model: 17, stepping: 1, isa: ['avx2', 'fma', 'avx512f', 'avx512_vnni'] };
    const page = textOf(renderRunReport({ ...base, environment: { ...base.environment, cpu } }));
    expect(page).toContain('CPUEPYC 9554 (AMD, 3.10 GHz; family 25, model 17, stepping 1; avx2 fma avx512f avx512_vnni)');
    expect(textOf(renderRunReport({ ...base, environment: { ...base.environment, cpu: { ...base.environment.cpu, isa: [] } } }))).toContain('CPUEPYC 9554 (AMD, 3.10 GHz) cores2 logical');
  });

  it('escapes hostile strings from the model dir and plugin options', () => {
    expect(html).not.toContain(HOSTILE);
    expect(html.split(HOSTILE_ESCAPED).length - 1).toBe(2);
    expect(html).toContain('<code>/models/&lt;script&gt;alert(1)&lt;/script&gt;</code>');
  });

  it('lists every item with marked picks, greedy flags, tokens and correctness', () => {
    expect(html).toContain('<details>');
    expect(text).toContain('Per-item results: 3 items');
    expect(text).toContain('marked with the pick of † acc_norm, ‡ acc;');
    // acc_norm (†) picked 2 and acc (‡) picked 1 for #7; gold 2, greedy choice 2, 37 context tokens.
    expect(html).toContain(
      '<tr><td>7</td><td>2</td><td>-10.000</td><td>-7.000‡</td><td>-8.000†</td><td>-20.000</td><td>2</td><td>37</td><td>5/10/15/20</td><td>✓</td><td>✗</td></tr>',
    );
    expect(html).toContain(
      '<tr><td>42</td><td>0</td><td>-5.000‡</td><td>-9.000†</td><td>-6.000</td><td>-7.000</td><td>0</td><td>72</td><td>5/20/10/10</td><td>✗</td><td>✓</td></tr>',
    );
    expect(html).toContain(
      '<tr><td>99</td><td>3</td><td>-3.000‡</td><td>-4.000</td><td>-5.000</td><td>-6.000†</td><td>—</td><td>129</td><td>5/5/5/20</td><td>✓</td><td>✗</td></tr>',
    );
  });

  it('shows the incomplete banner only for incomplete runs', () => {
    expect(html).not.toContain('class="banner"');
    const incomplete = renderRunReport(
      fixture({ status: 'incomplete', error: 'backend crashed: <oom>', task: { ...fixture().payload.task, dataset: { ...fixture().payload.task.dataset, selectedDocs: 5 } } }),
    );
    expect(incomplete).toContain('class="banner"');
    expect(incomplete).toContain('<code>backend crashed: &lt;oom&gt;</code>');
    expect(textOf(incomplete)).toContain('Metrics and timings cover only the 3 of 5 items that finished.');
    expect(textOf(incomplete)).toContain('status incomplete');
    expectBalancedTags(incomplete);
  });

  it('says "no plugins" and handles unmeasured timings and unknown GPU memory', () => {
    const base = fixture();
    const out = textOf(
      renderRunReport(
        fixture({
          plugins: [],
          timings: { ...base.timings, inference: { repeats: [], medianMs: 0, minMs: 0, maxMs: 0 } },
          environment: { ...base.environment, gpus: [{ model: 'H100', vendor: 'NVIDIA', vramMB: null }, { model: 'A10', vendor: 'NVIDIA', vramMB: 23028 }] },
        }),
      ),
    );
    expect(out).toContain('no plugins');
    expect(out).toContain('inference wall timenot measured');
    expect(out).toContain('GPUsNVIDIA H100NVIDIA A10 (23,028 MB)');
  });

  it('fails loudly on a missing field instead of printing an empty cell', () => {
    const broken = { ...fixture(), payload: { ...fixture().payload, backend: { build: {}, session: {}, load: {} } } } as unknown as InferenceResult;
    expect(() => renderRunReport(broken)).toThrow(/undefined/);
  });

  it('renders all 10,042 HellaSwag items quickly and compactly', () => {
    const items = Array.from({ length: 10_042 }, (_, i) => {
      const ll = [0, 1, 2, 3].map((c) => -((i * 7 + c * 13) % 50) - 1.23456);
      return item(i, i % 4, [31, 42, 53, 64], ll, { acc: i % 4, acc_norm: (i + 1) % 4 }, [i % 5 === 0, false, false, false]);
    });
    const big = fixture({ items });
    const started = performance.now();
    const out = renderRunReport(big);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(3000);
    expect(out.length).toBeLessThan(3 * 1024 * 1024);
    expect(out.split('<tr><td>').length - 1).toBe(10_042 + 2 /* plugin rows */);
    expect(textOf(out)).toContain('Per-item results: 10,042 items');
    expectBalancedTags(out);
  });
});

describe('writeRunReport', () => {
  it('writes index.html and leaves no temporary file behind', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-report-'));
    try {
      const results = fixture();
      const target = await writeRunReport(results, path.join(dir, 'run-1'));
      expect(target).toBe(path.join(dir, 'run-1', 'index.html'));
      expect(await readFile(target, 'utf8')).toBe(renderRunReport(results));
      expect(await readdir(path.join(dir, 'run-1'))).toEqual(['index.html']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
