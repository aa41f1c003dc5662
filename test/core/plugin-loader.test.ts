import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TokenRequest } from '../../src/core/backend.js';
import { OptibenchError } from '../../src/core/errors.js';
import { builtinPluginNames } from '../../src/core/plugin-loader.js';
import { loadPlugins } from '../../src/evaluators/inference/plugins.js';
import { scheduleRequests } from '../../src/evaluators/inference/schedule.js';
import { REPO_ROOT } from '../helpers/shared.js';

const fixture = (name: string) => path.join(REPO_ROOT, 'test/fixtures/plugins', name);

async function loadError(...args: Parameters<typeof loadPlugins>): Promise<string> {
  const error = await loadPlugins(...args).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(OptibenchError);
  return (error as OptibenchError).oneLine();
}

describe('plugin loader', () => {
  it('finds the built-in plugins in plugins/', () => {
    expect(builtinPluginNames()).toContain('onnx-session');
  });

  it('loads a built-in by name, validating and defaulting its options', async () => {
    const [plugin] = await loadPlugins([{ name: 'onnx-session', options: { graphOptimizationLevel: 'disabled' } }], 'onnx');
    expect(plugin!.source).toBe('builtin');
    expect(plugin!.options).toEqual({ graphOptimizationLevel: 'disabled', executionMode: 'sequential', allowSpinning: true, memoryArena: true, memoryPattern: false });
    const session = { executionProvider: 'cpu' as const, intraOpThreads: 0, interOpThreads: 1, extra: {} };
    plugin!.hooks.sessionOptions!({ backend: 'onnx', session });
    expect(session.extra).toMatchObject({ graphOptimizationLevel: 'disabled' });
  });

  it('loads a plain-JS plugin from a file path through the same path', async () => {
    const [plugin] = await loadPlugins([{ name: fixture('third-party.mjs'), options: { batchMultiplier: 2 } }], 'onnx');
    expect(plugin!.source).toBe(`file:${fixture('third-party.mjs')}`);
    expect(plugin!.options).toEqual({ batchMultiplier: 2, dtype: 'fp32' });
    expect(plugin!.hooks.describe!()).toEqual({ reversed: true, multiplier: 2 });
  });

  it('loads a plugin named by an npm package installed in the project', async () => {
    const project = await mkdtemp(path.join(os.tmpdir(), 'optibench-npm-'));
    const pkg = path.join(project, 'node_modules', 'optibench-plugin-demo');
    await mkdir(pkg, { recursive: true });
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'optibench-plugin-demo', version: '2.0.0', type: 'module', main: 'main.js' }));
    await writeFile(
      path.join(pkg, 'main.js'),
      "export default { name: 'demo', version: '2.0.0', description: 'npm fixture', backends: ['onnx'], create: () => ({}) };\n",
    );
    const [plugin] = await loadPlugins(['optibench-plugin-demo'], 'onnx', project);
    expect(plugin!.definition.name).toBe('demo');
    expect(plugin!.source).toBe('npm:optibench-plugin-demo');
  });

  it('refuses an unknown plugin, listing the built-ins', async () => {
    expect(await loadError(['no-such-plugin'], 'onnx')).toMatch(/^unknown plugin "no-such-plugin": not a built-in plugin \(.*onnx-session.*\)/);
  });

  it('refuses bad options with the key that is wrong', async () => {
    expect(await loadError([{ name: 'onnx-session', options: { graphOptimizationLevel: 'max' } }], 'onnx')).toMatch(
      /^plugins\[0\]\.options\.graphOptimizationLevel: Invalid option/,
    );
    expect(await loadError([{ name: fixture('third-party.mjs'), options: { batchMultiplier: 0 } }], 'onnx')).toBe(
      'plugins[0].options.batchMultiplier: expected a positive integer',
    );
    expect(await loadError([{ name: fixture('conflicting.mjs'), options: { x: 1 } }], 'onnx')).toBe(
      'plugins[0].options: plugin "conflicting-fixture" takes no options',
    );
  });

  it('refuses a plugin for another backend, a duplicate, and a conflicting pair with the reason', async () => {
    expect(await loadError([fixture('pytorch-only.mjs')], 'onnx')).toBe('plugins[0]: plugin "pytorch-only" supports the pytorch backend, not onnx');
    expect(await loadError(['onnx-session', 'onnx-session'], 'onnx')).toBe('plugins[1]: plugin "onnx-session" is listed twice');
    expect(await loadError([fixture('third-party.mjs'), fixture('conflicting.mjs')], 'onnx')).toBe(
      'plugins[1]: plugins "third-party" and "conflicting-fixture" cannot run together: both reorder batches',
    );
  });

  it('refuses a module that is not a plugin, naming the file and the contract', async () => {
    const message = await loadError([fixture('not-a-plugin.mjs')], 'onnx');
    expect(message).toContain(fixture('not-a-plugin.mjs'));
    expect(message).toMatch(/is not a valid optibench plugin: name: lower-case letters, digits and dashes/);
  });

  it('applies schedule hooks in order and refuses a schedule that loses requests', async () => {
    const requests: TokenRequest[] = [3, 1, 2, 5].map((n, id) => ({ id, group: id, context: Array(n).fill(1), continuation: [2] }));
    // Default: longest first (5, 3, 2, 1 context tokens -> ids 3, 0, 2, 1), batches of 2.
    expect(scheduleRequests(requests, 2, []).map((b) => b.map((r) => r.id))).toEqual([[3, 0], [2, 1]]);
    const reversed = await loadPlugins([fixture('third-party.mjs')], 'onnx');
    expect(scheduleRequests(requests, 2, reversed).map((b) => b.map((r) => r.id))).toEqual([[2, 1], [3, 0]]);
    const broken = await loadPlugins([fixture('drops-requests.mjs')], 'onnx');
    expect(() => scheduleRequests(requests, 2, broken)).toThrow('plugin "drops-requests" scheduled 2 of 4 requests: every request must run once');
  });
});
