/**
 * The compression config and a solution's manifest: defaults as the issue gives them, errors that name the file,
 * the line and the key, and a manifest that is a link or malformed refused before anything runs.
 */
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { compressionJsonSchema, loadCompressionConfig, profileOf } from '../../src/evaluators/compression/config.js';
import { readSolution } from '../../src/evaluators/compression/solution.js';

let dir: string;

/** The error as the CLI prints it: `file:line: key: message`. */
async function oneLine(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(OptibenchError);
    return (error as OptibenchError).oneLine();
  }
  throw new Error('expected an error');
}
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-compression-config-'));
});

describe('the compression config', () => {
  it("defaults to the issue's: 1.5 GB, 1 CPU, 60 s, the default profile's constants, a 1% margin", async () => {
    const config = await loadCompressionConfig(undefined, dir);
    expect(config.limits).toMatchObject({ wallSeconds: 60, memoryBytes: 1_500_000_000, cpus: 1 });
    expect(config.challengeMargin).toBe(0.01);
    expect(config.samples).toBe(path.join(dir, 'samples'));
    expect(profileOf(config)).toEqual({ name: 'default', timeBudgetSeconds: 30, similarityWeight: 1000, ratioWeight: 1_000_000, sigmoidSlope: 0.003, sigmoidScale: 1000, sigmoidCenter: 2000, clipNormSimilarity: true });
    expect(profileOf({ ...config, profile: 'lossless' })).toEqual({ name: 'lossless', timeScale: 1, timeSlack: 0.012 });
  });

  it('names the file, the line and the key of a bad value', async () => {
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, 'version: 1\nsamples: s\nlimits:\n  wallSeconds: -3\n');
    expect(await oneLine(loadCompressionConfig(file))).toBe(`${file}:4: limits.wallSeconds: Too small: expected number to be >0`);
    await writeFile(file, 'version: 2\n');
    expect(await oneLine(loadCompressionConfig(file))).toMatch(new RegExp(`^${file}:1: version: .*1`));
    await writeFile(file, 'samples: s\nprofile: lossy\n');
    expect(await oneLine(loadCompressionConfig(file))).toBe(`${file}:2: profile: Invalid option: expected one of "default"|"lossless"`);
  });

  it('has a JSON Schema for editors', () => {
    const schema = compressionJsonSchema() as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties).sort()).toEqual(['challengeMargin', 'default', 'limits', 'lossless', 'outputDir', 'profile', 'samples', 'version']);
  });
});

describe("a solution's optibench-solution.yaml", () => {
  const manifest = 'schema: optibench/compression-solution\nversion: 1\nname: ok\nprotocol: cli\ncommand: [python3, s.py]\n';

  it('is read with its protocol and command', async () => {
    await mkdir(path.join(dir, 'good'));
    await writeFile(path.join(dir, 'good', 'optibench-solution.yaml'), manifest);
    expect((await readSolution(path.join(dir, 'good'))).manifest).toEqual({ schema: 'optibench/compression-solution', version: 1, name: 'ok', protocol: 'cli', command: ['python3', 's.py'] });
  });

  it('refuses an unknown protocol, naming the line and key', async () => {
    await mkdir(path.join(dir, 'grpc'));
    await writeFile(path.join(dir, 'grpc', 'optibench-solution.yaml'), manifest.replace('protocol: cli', 'protocol: grpc'));
    const file = path.join(dir, 'grpc', 'optibench-solution.yaml');
    expect(await oneLine(readSolution(path.join(dir, 'grpc')))).toBe(`${file}:4: protocol: Invalid option: expected one of "cli"|"http"`);
  });

  it('refuses a manifest that is a link (to a host file) and a folder without one', async () => {
    await mkdir(path.join(dir, 'link'));
    await symlink('/etc/passwd', path.join(dir, 'link', 'optibench-solution.yaml'));
    await expect(readSolution(path.join(dir, 'link'))).rejects.toThrow(/must be a regular file \(a link is not followed\)/);
    await mkdir(path.join(dir, 'none'));
    await expect(readSolution(path.join(dir, 'none'))).rejects.toThrow(/has no optibench-solution\.yaml/);
  });
});
