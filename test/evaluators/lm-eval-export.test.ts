/**
 * lm-eval-compatible output: the files are read back with lm-evaluation-harness's own field names, and every
 * hash, document, prompt, score and stderr is worked out again in Python (hashlib, json.dumps, lm-eval's
 * HellaSwag preprocessing written out anew in the test) from the dataset and the written responses.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { configSchema } from '../../src/evaluators/inference/config.js';
import { defaultDatasetPath } from '../../src/evaluators/inference/embedded-default.js';
import { createRun, openInferenceStore, recordItems } from '../../src/evaluators/inference/store/runs.js';
import { sha256File } from '../../src/models/llama/weights-hash.js';
import { buildLmEvalFiles, fileDate, type LmEvalFiles } from '../../src/evaluators/inference/lm-eval/export.js';
import { pyFloatRepr, pyJsonDumps, PyFloat } from '../../src/evaluators/inference/lm-eval/python-json.js';
import type { InferenceResult } from '../../src/evaluators/inference/results.js';
import { HELLASWAG_FULL, REPO_ROOT, sharedFile } from '../helpers/shared.js';
import { runPython } from '../helpers/python.js';
import { tinyRun } from './tiny-run.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');

/** What Python makes of the written files, computed without optibench's code. */
interface PythonCheck {
  samples: {
    doc_id: number;
    doc_matches: boolean;
    doc_hash: string;
    prompt_hash: string;
    target_hash: string;
    arguments_match: boolean;
    resps_are_repr: boolean;
    acc: number;
    acc_norm: number;
    line_is_json_dumps: boolean;
  }[];
  acc: number;
  acc_stderr: number;
  acc_norm: number;
  acc_norm_stderr: number;
  task_hash: string;
}

/**
 * `rows` is the raw dataset (jsonl) or null (text form: the documents are then checked against the written
 * query/choices only). Scores come from the written `resps` strings, so they also check those.
 */
const CHECK_PY = String.raw`
import hashlib, json, math, re, statistics, sys
samples_file, rows_file, lls_file = sys.argv[1:4]
def h(text): return hashlib.sha256(text.encode("utf-8")).hexdigest()
def preprocess(text):
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")
rows = json.load(open(rows_file)) if rows_file != "-" else None
lls = json.load(open(lls_file))
columns = ["ind", "activity_label", "ctx_a", "ctx_b", "ctx", "endings", "source_id", "split", "split_type", "label"]
out, hashes = [], []
for line in open(samples_file, encoding="utf-8"):
    line = line.rstrip("\n")
    s = json.loads(line)
    if rows is not None:
        row = rows[s["doc_id"]]
        doc = {c: (str(row[c]) if c == "label" else row[c]) for c in columns if c in row}
        doc["query"] = preprocess(row["activity_label"] + ": " + row["ctx_a"] + " " + row["ctx_b"].capitalize())
        doc["choices"] = [preprocess(e) for e in row["endings"]]
        doc["gold"] = int(row["label"])
    else:
        doc = {"label": str(s["doc"]["gold"]), "query": s["doc"]["query"], "choices": s["doc"]["choices"], "gold": s["doc"]["gold"]}
    doc_matches = s["doc"] == doc and list(s["doc"]) == list(doc)
    resp = [float(r[0][0]) for r in s["resps"]]
    gold = int(doc["label"])
    pred = max(range(len(resp)), key=lambda i: resp[i])
    pred_norm = max(range(len(resp)), key=lambda i: resp[i] / len(doc["choices"][i]))
    entry = {
        "doc_id": s["doc_id"],
        "doc_matches": doc_matches,
        "doc_hash": h(json.dumps(doc, indent=2, ensure_ascii=False)),
        "prompt_hash": h(doc["query"]),
        "target_hash": h(str(gold)),
        "arguments_match": s["arguments"] == {f"gen_args_{i}": {"arg_0": doc["query"], "arg_1": " " + c} for i, c in enumerate(doc["choices"])},
        "resps_are_repr": [r[0][0] for r in s["resps"]] == [repr(float(x)) for x in lls[str(s["doc_id"])]] and [r[0] for r in s["resps"]] == s["filtered_resps"],
        "acc": 1.0 if pred == gold else 0.0,
        "acc_norm": 1.0 if pred_norm == gold else 0.0,
        "line_is_json_dumps": line == json.dumps(s, ensure_ascii=False),
    }
    out.append(entry)
    hashes.append(entry["doc_hash"] + entry["prompt_hash"] + entry["target_hash"])
def mean_stderr(xs): return statistics.stdev(xs) / math.sqrt(len(xs))
acc = [e["acc"] for e in out]
acc_norm = [e["acc_norm"] for e in out]
print(json.dumps({"samples": out, "acc": statistics.mean(acc), "acc_stderr": mean_stderr(acc), "acc_norm": statistics.mean(acc_norm),
                  "acc_norm_stderr": mean_stderr(acc_norm), "task_hash": h("".join(hashes))}))
`;

async function pythonCheck(files: LmEvalFiles, result: InferenceResult, datasetRows: unknown[] | null): Promise<PythonCheck> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-lmeval-py-'));
  const samples = path.join(dir, files.samplesName);
  await writeFile(samples, files.samplesText);
  const rows = path.join(dir, 'rows.json');
  if (datasetRows) await writeFile(rows, JSON.stringify(datasetRows));
  const lls = path.join(dir, 'lls.json');
  await writeFile(lls, JSON.stringify(Object.fromEntries(result.payload.items.map((item) => [item.index, item.loglikelihoods]))));
  return JSON.parse(runPython(['-c', CHECK_PY, samples, datasetRows ? rows : '-', lls])) as PythonCheck;
}

/** The results file read back with lm-eval's field names, and checked against the Python figures and the run. */
function checkAggregate(files: LmEvalFiles, result: InferenceResult, py: PythonCheck, effective: number): Record<string, unknown> {
  const json = JSON.parse(files.resultsText) as { results: { hellaswag: Record<string, number | string> }; configs: { hellaswag: unknown }; date: number } & Record<string, unknown>;
  const task = json.results.hellaswag;
  expect(task.alias).toBe('hellaswag');
  for (const [metric, stderr] of [['acc', 'acc_stderr'], ['acc_norm', 'acc_norm_stderr']] as const) {
    expect(task[`${metric},none`] as number).toBeCloseTo(py[metric], 12);
    expect(task[`${metric},none`] as number).toBeCloseTo(result.metrics[metric]!.value, 12);
    expect(task[`${stderr},none`] as number).toBeCloseTo(py[stderr], 12);
  }
  expect(json.versions).toEqual({ hellaswag: 1 });
  expect(json['n-shot']).toEqual({ hellaswag: 0 });
  expect(json['n-samples']).toEqual({ hellaswag: { original: result.payload.task.dataset.totalDocs, effective } });
  expect(json.higher_is_better).toEqual({ hellaswag: { acc: true, acc_norm: true } });
  expect(json.configs.hellaswag).toMatchObject({ task: 'hellaswag', output_type: 'multiple_choice', num_fewshot: 0, doc_to_text: '{{query}}' });
  expect(json.task_hashes).toEqual({ hellaswag: py.task_hash });
  expect(json.date).toBeCloseTo(Date.parse(result.createdAt) / 1000, 3);
  for (const key of ['config', 'git_hash', 'group_subtasks']) expect(json).toHaveProperty([key]);
  // Python's json.dumps(indent=2): the aggregate text is byte for byte what lm-eval would write for this dict.
  expect(files.resultsText).toBe(runPython(['-c', 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2, ensure_ascii=False), end="")'], files.resultsText));
  return json;
}

function checkSamples(files: LmEvalFiles, py: PythonCheck, result: InferenceResult): void {
  const lines = files.samplesText.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(lines.map((s) => s.doc_id)).toEqual(result.payload.items.map((item) => item.index).sort((a, b) => a - b));
  lines.forEach((sample, i) => {
    const expected = py.samples[i]!;
    expect(Object.keys(sample)).toEqual(['doc_id', 'doc', 'target', 'arguments', 'resps', 'filtered_resps', 'filter', 'metrics', 'doc_hash', 'prompt_hash', 'target_hash', 'acc', 'acc_norm']);
    expect(expected).toMatchObject({ doc_matches: true, arguments_match: true, resps_are_repr: true, line_is_json_dumps: true });
    expect(sample.doc_hash).toBe(expected.doc_hash);
    expect(sample.prompt_hash).toBe(expected.prompt_hash);
    expect(sample.target_hash).toBe(expected.target_hash);
    expect(sample.acc).toBe(expected.acc);
    expect(sample.acc_norm).toBe(expected.acc_norm);
    expect(sample.filter).toBe('none');
    expect(sample.metrics).toEqual(['acc', 'acc_norm']);
  });
}

describe('Python-compatible JSON and floats', () => {
  it("writes floats as Python's repr does, across notations", () => {
    const values = [-12.345, -3, 0.1 + 0.2, -1e-5, -0.0001, 1.5e-7, 1e16, 1e15, 123456789.123, -2.5e22, 5e-324, 1.7976931348623157e308, -0.0, 0, 100, 0.5];
    const python = JSON.parse(runPython(['-c', 'import json,sys; print(json.dumps([repr(float(x)) for x in json.load(sys.stdin)]))'], JSON.stringify(values))) as string[];
    // JSON.stringify loses the sign of -0.0; Python's repr of it is written out here.
    python[values.indexOf(-0.0)] = '-0.0';
    expect(values.map(pyFloatRepr)).toEqual(python);
  });

  it('writes json.dumps text, compact and indented, with non-ASCII and control characters', () => {
    const value = { a: [1, new PyFloat(1), 'é "q" \\ \n\t\u0001\u007f ☃ 😀'], b: {}, c: [], d: null, e: true, f: { g: [new PyFloat(0.1)] } };
    const plain = { a: [1, 1.0, 'é "q" \\ \n\t\u0001\u007f ☃ 😀'], b: {}, c: [], d: null, e: true, f: { g: [0.1] } };
    const script = 'import json,sys; v=json.load(sys.stdin); v["a"][1]=float(v["a"][1]); print(json.dumps(v, ensure_ascii=False)); print(json.dumps(v, indent=2, ensure_ascii=False))';
    const [compact, ...indented] = runPython(['-c', script], JSON.stringify(plain)).trimEnd().split('\n');
    expect(pyJsonDumps(value)).toBe(compact);
    expect(pyJsonDumps(value, 2)).toBe(indented.join('\n'));
  });

  it("names files by the run's date as lm-eval does (isoformat with - for :)", () => {
    expect(fileDate('2026-12-02T06:14:53.123Z')).toBe('2026-12-02T06-14-53.123000');
    expect(fileDate('2026-12-02T06:14:53.000Z')).toBe('2026-12-02T06-14-53');
  });
});

describe('lm-eval files of a real run on the official JSON form (the embedded tiny set)', () => {
  let result: InferenceResult;
  let files: LmEvalFiles;
  let py: PythonCheck;

  beforeAll(async () => {
    result = await tinyRun({ limit: 6, limitMode: 'first' });
    files = await buildLmEvalFiles(result);
    const rows = (await readFile(defaultDatasetPath(), 'utf8')).split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);
    py = await pythonCheck(files, result, rows);
  }, 120_000);

  it('scores the first 6 documents (lm-eval --limit 6)', () => {
    expect(result.payload.items.map((i) => i.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(result.payload.task.dataset.selection).toEqual({ mode: 'first', limit: 6 });
  });

  it('writes each sample as lm-eval does: the processed HF row, arguments, resps, scores and the three hashes', () => {
    checkSamples(files, py, result);
    expect(files.docHashesComparable).toBe(true);
    expect(files.samplesName).toBe(`samples_hellaswag_${fileDate(result.createdAt)}.jsonl`);
  });

  it('writes the aggregate with the run\'s metrics and their stderr', () => {
    const json = checkAggregate(files, result, py, 6);
    expect(json.config).toMatchObject({ limit: 6, batch_size: result.config.batchSize });
    expect(files.resultsName).toBe(`results_${fileDate(result.createdAt)}.json`);
  });

  it('exports a results file written before selections were recorded as the seeded subset it then was', async () => {
    const { selection: _recorded, ...dataset } = result.payload.task.dataset;
    const old = await buildLmEvalFiles({ ...result, payload: { ...result.payload, task: { ...result.payload.task, dataset } } });
    expect(old.samplesText).toBe(files.samplesText);
    const json = JSON.parse(old.resultsText) as { config: { limit: unknown }; optibench: { selection_mode: string } };
    expect(json.config.limit).toBeNull();
    expect(json.optibench.selection_mode).toBe('seeded');
  });
});

describe('lm-eval files of a run on the text form, items chosen by index', () => {
  it('writes the documents the text form has, with lm-eval hashes of them', async () => {
    const result = await tinyRun({ dataset: sharedFile(HELLASWAG_FULL), samples: [0, 5, 7, 8, 9] });
    expect(result.payload.items.map((i) => i.index).sort((a, b) => a - b)).toEqual([0, 5, 7, 8, 9]);
    const files = await buildLmEvalFiles(result);
    expect(files.docHashesComparable).toBe(false);
    const py = await pythonCheck(files, result, null);
    checkSamples(files, py, result);
    const json = checkAggregate(files, result, py, 5);
    expect(json.config).toMatchObject({ limit: null });
    expect(json.optibench).toMatchObject({ selection_mode: 'indices', samples: [0, 5, 7, 8, 9] });
    // Line 1 of the text form is item 0's context, repaired as lm-eval would have it (ctx_b capitalized).
    const first = JSON.parse(files.samplesText.split('\n')[0]!) as { doc: { query: string } };
    expect(first.doc.query).toBe('Roof shingle removal: A man is sitting on a roof. He');
  }, 120_000);
});

describe('optibench export lm-eval', () => {
  let dir: string;
  let result: InferenceResult;
  let dataset: string;
  let resultsFile: string;

  function optibench(args: string[]) {
    const out = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, OPTIBENCH_CACHE_DIR: path.join(dir, 'cache') } });
    return { code: out.status, stdout: out.stdout, stderr: out.stderr };
  }

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\``);
    dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-lmeval-cli-'));
    dataset = path.join(dir, 'hellaswag_tiny_val.jsonl');
    await copyFile(defaultDatasetPath(), dataset);
    result = await tinyRun({ dataset, samples: [1, 3] });
    resultsFile = path.join(dir, 'results.json');
    await writeFile(resultsFile, JSON.stringify(result));
  }, 120_000);

  it('converts an existing results file into the two files', async () => {
    const { code, stdout, stderr } = optibench(['export', 'lm-eval', resultsFile, '-o', 'lm']);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    const date = fileDate(result.createdAt);
    expect((await readdir(path.join(dir, 'lm'))).sort()).toEqual([`results_${date}.json`, `samples_hellaswag_${date}.jsonl`]);
    expect(stdout).toContain(`results_${date}.json`);
    const samples = (await readFile(path.join(dir, 'lm', `samples_hellaswag_${date}.jsonl`), 'utf8')).trimEnd().split('\n');
    expect(samples.map((line) => (JSON.parse(line) as { doc_id: number }).doc_id)).toEqual([1, 3]);
  });

  it('refuses an output that is no folder before writing anything', async () => {
    await writeFile(path.join(dir, 'a-file'), 'x');
    const { code, stderr } = optibench(['export', 'lm-eval', resultsFile, '-o', 'a-file']);
    expect(code).toBe(1);
    expect(stderr).toContain(`optibench: error: ${path.join(dir, 'a-file')}: --output: cannot write into this folder`);
  });

  it('refuses when the dataset changed since the run, and when results are incomplete', async () => {
    await writeFile(dataset, `${await readFile(dataset, 'utf8')}\n`);
    const { code, stderr } = optibench(['export', 'lm-eval', resultsFile, '-o', 'lm2']);
    expect(code).toBe(1);
    expect(stderr).toContain(`optibench: error: ${dataset}: the dataset changed since the run`);
    const error = await buildLmEvalFiles({ ...result, status: 'incomplete' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OptibenchError);
    expect((error as Error).message).toContain('these results are incomplete');
  });
});

describe('optibench run --output-format lm-eval and the selection flags', () => {
  let dir: string;
  function optibench(args: string[]) {
    const out = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, OPTIBENCH_CACHE_DIR: path.join(dir, 'cache') } });
    return { code: out.status, stdout: out.stdout, stderr: out.stderr };
  }
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-lmeval-run-'));
  });

  it('writes the lm-eval files beside results.json and says which items it scored', async () => {
    const { code, stdout, stderr } = optibench(['run', '--samples', '0,2-3', '--output-format', 'lm-eval', '--no-progress', '-o', 'out']);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(stdout).toContain("hellaswag, 3 of 40 items (indices 0,2,3, as lm-eval's --samples), onnx (cpu, fp32)");
    const [id] = await readdir(path.join(dir, 'out'));
    const names = (await readdir(path.join(dir, 'out', id!))).sort();
    expect(names.filter((n) => n.startsWith('results_')).length).toBe(1);
    expect(names.filter((n) => n.startsWith('samples_hellaswag_')).length).toBe(1);
    const results = JSON.parse(await readFile(path.join(dir, 'out', id!, 'results.json'), 'utf8')) as InferenceResult;
    expect(results.config.samples).toEqual([0, 2, 3]);
    expect(results.payload.task.dataset.selection).toEqual({ mode: 'indices', indices: [0, 2, 3] });
    expect(await readFile(path.join(dir, 'out', id!, 'index.html'), 'utf8')).toContain("3 of 40 items (indices 0,2,3, as lm-eval&#39;s --samples)");
  });

  it('refuses bad selections before computing anything', async () => {
    const both = optibench(['run', '--samples', '1', '--limit', '2', '-o', 'bad']);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('give either --limit or --samples, not both');
    const backwards = optibench(['run', '--samples', '5-3', '-o', 'bad']);
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toContain('the range "5-3" runs backwards (write 3-5)');
    const outside = optibench(['run', '--samples', '39-41', '-o', 'bad']);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain('the dataset has 40 items (indices 0-39), so indices 40,41 do not exist');
    const share = optibench(['run', '--limit', '1.5', '-o', 'bad']);
    expect(share.code).toBe(2);
    expect(share.stderr).toContain('expected a positive integer, or a fraction between 0 and 1');
    const submission = optibench(['compare', '--submission', '--samples', '0-3', '-o', 'bad']);
    expect(submission.code).toBe(1);
    expect(submission.stderr).toContain('--submission judges the full set: remove the item indices');
    const resume = optibench(['run', '--db', 'runs.db', '--resume', 'some-run', '--samples', '1', '--limit-mode', 'first']);
    expect(resume.code).toBe(1);
    expect(resume.stderr).toContain('leave out --limit-mode, --samples');
    // The output folder may have been made (it is checked before computing), but no run was written into it.
    expect(existsSync(path.join(dir, 'bad')) ? await readdir(path.join(dir, 'bad')) : []).toEqual([]);
  });
});

describe('run --resume of a run that chose its items by index', () => {
  it('keeps the selection: it computes only the missing listed items, to the metrics of an uninterrupted run', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-lmeval-resume-'));
    const whole = await tinyRun({ samples: [1, 3, 4] });
    const file = path.join(dir, 'runs.sqlite');
    const store = openInferenceStore(file);
    const config = configSchema.parse({ samples: [1, 3, 4], outputDir: path.join(dir, 'out') });
    const dataset = defaultDatasetPath();
    createRun(store, { id: 'by-index', kind: 'run', config, datasetPath: dataset, datasetSha256: await sha256File(dataset), totalItems: 3, shuffleSeed: 1 });
    recordItems(store, 'by-index', whole.payload.items.filter((item) => item.index === 3));
    store.close();
    const out = spawnSync(process.execPath, [CLI, 'run', '--resume', 'by-index', '--db', file, '--no-progress'], { cwd: dir, encoding: 'utf8', env: { ...process.env, OPTIBENCH_CACHE_DIR: path.join(dir, 'cache') } });
    expect(out.stderr).toContain('tokenizing 2 items (1 carried over from the interrupted run)');
    expect(out.status).toBe(0);
    expect(out.stdout).toContain("3 of 40 items (indices 1,3,4, as lm-eval's --samples)");
    const resumed = JSON.parse(await readFile(path.join(dir, 'out', 'by-index', 'results.json'), 'utf8')) as InferenceResult;
    expect(resumed.payload.items.map((item) => item.index).sort((a, b) => a - b)).toEqual([1, 3, 4]);
    expect(resumed.payload.task.dataset.selection).toEqual({ mode: 'indices', indices: [1, 3, 4] });
    expect(resumed.metrics).toEqual(whole.metrics);
  }, 120_000);
});
