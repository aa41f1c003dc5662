import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, loadConfig } from '../../src/evaluators/inference/config.js';
import { OptibenchError } from '../../src/core/errors.js';
import { loadPlugins } from '../../src/evaluators/inference/plugins.js';
import { REPO_ROOT } from '../helpers/shared.js';

async function configFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-config-'));
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

async function loadError(file: string | undefined, overrides = {}): Promise<OptibenchError> {
  const error = await loadConfig(file, overrides).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(OptibenchError);
  return error as OptibenchError;
}

describe('config', () => {
  it('fills every default when nothing is given', async () => {
    const { config } = await loadConfig(undefined, {}, '/somewhere');
    expect(config).toEqual({
      task: 'hellaswag',
      model: null,
      dataset: null,
      backend: { name: 'onnx', executionProvider: 'cpu', dtype: 'fp32', python: null, workerTimeoutSeconds: 600, intraOpThreads: 0, interOpThreads: 1 },
      plugins: [],
      limit: null,
      seed: 1234,
      batchSize: 8,
      repeats: 1,
      warmupBatches: 1,
      outputDir: '/somewhere/reports',
      cacheDir: null,
    });
  });

  it('reads YAML, resolves its paths against the file, and lets flags win (resolved against cwd)', async () => {
    const file = await configFile(
      'run.yaml',
      ['model: ./models/llama', 'dataset: data/val.jsonl', 'batchSize: 4', 'backend:', '  dtype: fp16', 'plugins:', '  - onnx-session', '  - name: ./my-plugin.js', '    options: { level: 2 }', ''].join('\n'),
    );
    const dir = path.dirname(file);
    const { config } = await loadConfig(file, { batchSize: 16, dataset: 'other.jsonl', backend: { intraOpThreads: 2 } }, '/cwd');
    expect(config.model).toBe(path.join(dir, 'models/llama'));
    expect(config.dataset).toBe('/cwd/other.jsonl');
    expect(config.batchSize).toBe(16);
    expect(config.backend).toMatchObject({ dtype: 'fp16', intraOpThreads: 2 });
    expect(config.plugins).toEqual(['onnx-session', { name: path.join(dir, 'my-plugin.js'), options: { level: 2 } }]);
    expect(config.outputDir).toBe(path.join(dir, 'reports'));
  });

  it('reads JSON too', async () => {
    const file = await configFile('run.json', '{\n  "limit": 10,\n  "repeats": 3\n}\n');
    const { config } = await loadConfig(file);
    expect(config).toMatchObject({ limit: 10, repeats: 3 });
  });

  it('names the file, the line and the key of a wrong value', async () => {
    const file = await configFile('bad.yaml', 'seed: 1\nbackend:\n  name: onnx\n  dtype: int3\n');
    const error = await loadError(file);
    expect(error.oneLine()).toBe(`${file}:4: backend.dtype: Invalid option: expected one of "fp32"|"fp16"|"bf16"`);
  });

  it('names an unknown key (a typo) at its own line, with the key it is closest to', async () => {
    const file = await configFile('typo.yaml', 'limit: 5\nbach_size: 4\n');
    const error = await loadError(file);
    expect(error.oneLine()).toBe(`${file}:2: bach_size: unknown key (did you mean "batchSize"?)`);
  });

  it('points at a nested unknown key, not at its mapping, and suggests from that mapping only', async () => {
    const file = await configFile('nested.yaml', 'limit: 5\nbackend:\n  name: onnx\n\n  intraOpTreads: 2\n  colour: red\n');
    const error = await loadError(file);
    expect(error.oneLine()).toBe(`${file}:5: backend.intraOpTreads: unknown key (did you mean "intraOpThreads"?); also unknown: "colour"`);
    const far = await loadError(await configFile('far.yaml', 'backend:\n  colour: red\n'));
    expect(far.message).toBe('unknown key');
    expect(far.location?.line).toBe(2);
  });

  it('suggests the keys of a plugin entry inside the list', async () => {
    const file = await configFile('entry.yaml', 'plugins:\n  - name: onnx-session\n    option: {}\n');
    const error = await loadError(file);
    expect(error.oneLine()).toBe(`${file}:3: plugins[0].option: unknown key (did you mean "options"?)`);
  });

  it('refuses an alias bomb ("billion laughs") with a clear error at the first alias, not a stack trace', async () => {
    const lol = (name: string, of: string) => `${name}: &${name} [${Array(9).fill(of).join(', ')}]`;
    const text = ['limit: 5', lol('a', '"lol"'), lol('b', '*a'), lol('c', '*b'), lol('d', '*c'), lol('e', '*d'), ''].join('\n');
    const error = await loadError(await configFile('bomb.yaml', text));
    expect(error.location?.line).toBe(3);
    expect(error.message).toMatch(/aliases expand to more than 100 copies of an anchor \(an alias bomb, "billion laughs"\)/);
  });

  it('still reads a config with a few aliases', async () => {
    const file = await configFile('alias.yaml', 'seed: &s 7\nlimit: *s\n');
    expect((await loadConfig(file)).config).toMatchObject({ seed: 7, limit: 7 });
  });

  it('gives a plugin option the plugin refuses its file and line', async () => {
    const file = await configFile('options.yaml', 'limit: 5\nplugins:\n  - quantization\n  - name: onnx-session\n    options:\n      graphOptimizationLevel: max\n');
    const { config } = await loadConfig(file);
    const error = await loadPlugins(config.plugins, 'onnx').catch((e: unknown) => e as OptibenchError);
    expect(error).toBeInstanceOf(OptibenchError);
    expect((error as OptibenchError).oneLine()).toMatch(new RegExp(`^${file}:6: plugins\\[1\\]\\.options\\.graphOptimizationLevel: Invalid option`));
    const typo = await configFile('plugin-typo.yaml', 'plugins:\n  - onnx-sesion\n');
    const unknown = await loadPlugins((await loadConfig(typo)).config.plugins, 'onnx').catch((e: unknown) => e as OptibenchError);
    expect((unknown as OptibenchError).location).toMatchObject({ file: typo, line: 2, key: 'plugins[0]' });
  });

  it('points into lists', async () => {
    const file = await configFile('list.yaml', 'plugins:\n  - onnx-session\n  - name: ""\n');
    const error = await loadError(file);
    expect(error.location).toMatchObject({ file, line: 3, key: 'plugins[1].name' });
  });

  it('reports YAML syntax errors with their line', async () => {
    const file = await configFile('syntax.yaml', 'limit: 5\nbackend: [unclosed\n');
    const error = await loadError(file);
    expect(error.location?.file).toBe(file);
    expect(error.message).toMatch(/not valid YAML or JSON/);
    expect(error.location?.line).toBeGreaterThanOrEqual(2);
  });

  it('says a missing file does not exist', async () => {
    const error = await loadError('/nonexistent/optibench.yaml');
    expect(error.oneLine()).toBe('/nonexistent/optibench.yaml: config file does not exist');
  });

  it('blames the flag, not the file, for a bad flag value', async () => {
    const file = await configFile('ok.yaml', 'limit: 5\n');
    const error = await loadError(file, { backend: { name: 'tensorflow' } });
    expect(error.location).toEqual({ key: 'command-line flag for backend.name' });
  });

  it('exports a JSON Schema identical to the committed one editors use', async () => {
    const committed = JSON.parse(await readFile(path.join(REPO_ROOT, 'src/evaluators/inference/config.schema.json'), 'utf8')) as unknown;
    expect(committed).toEqual(configJsonSchema());
    const schema = configJsonSchema() as { properties: Record<string, unknown>; additionalProperties: unknown };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['model', 'dataset', 'backend', 'plugins', 'limit', 'seed', 'repeats', 'outputDir']),
    );
    expect(schema.additionalProperties).toBe(false);
  });
});
