/**
 * `npx optibench` as the README runs it: npm itself must have nothing to warn about in this project's
 * configuration (an unknown key in a project .npmrc made every call print `npm warn Unknown project config`).
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

describe('npx optibench', () => {
  it('prints the version and no npm warning', async () => {
    const { version } = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = spawnSync('npx', ['--no-install', 'optibench', '--version'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(result.stderr).not.toMatch(/npm warn/i);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

  it("denies onnxruntime-node's install script (the CUDA download) in allowScripts, where npm reads it", async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
  });
});
