/** The reference-server check on hand-written environments, and the shipped competition spec. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Environment } from '../../src/core/environment.js';
import { compareWithReference, loadReferenceSpec } from '../../src/submissions/reference-spec.js';
import { parseUnlabeled, UNLABELED_PLACEHOLDER_GOLD } from '../../src/tasks/hellaswag/index.js';

const v100 = { model: 'Tesla V100-SXM2-32GB', vendor: 'NVIDIA', vramMB: 32768 };
const referenceServer: Environment = {
  cpu: { brand: 'Xeon', manufacturer: 'Intel', cores: 32, physicalCores: 16, speedGHz: 2.5 },
  memory: { totalBytes: 354e9 },
  gpus: [v100, v100, v100, v100],
  os: { platform: 'linux', distro: 'Ubuntu', release: '22.04', kernel: '5.15', arch: 'x64' },
  hostname: 'ref',
  versions: { node: 'v20.19.0', optibench: '0.1.0', 'nvidia-driver': '535.104.05' },
};

describe('the shipped competition spec', () => {
  it('is 32 vCPU, 360 GB RAM, 4x Tesla V100 32 GB with NVLink, Ubuntu', async () => {
    const spec = await loadReferenceSpec();
    expect(spec).toMatchObject({ cpu: { cores: 32 }, memory: { gigabytes: 360 }, gpus: { model: 'Tesla V100', count: 4, memoryGB: 32, interconnect: 'NVLink' }, os: { distro: 'Ubuntu' } });
  });

  it('matches the reference server (354 GB seen of 360 is within 5 %)', async () => {
    expect(compareWithReference(await loadReferenceSpec(), referenceServer)).toEqual({ match: true, differences: [] });
  });

  it('lists every difference of another machine', async () => {
    const laptop: Environment = { ...referenceServer, cpu: { ...referenceServer.cpu, cores: 2 }, memory: { totalBytes: 24e9 }, gpus: [], os: { ...referenceServer.os, distro: 'Debian GNU/Linux' } };
    expect(compareWithReference(await loadReferenceSpec(), laptop)).toEqual({
      match: false,
      differences: [
        'CPU: 2 logical cores, the reference has 32',
        'RAM: 24.0 GB, the reference has 360 GB',
        'GPUs: 0 (none), the reference has 4x Tesla V100',
        'OS: Debian GNU/Linux, the reference runs Ubuntu',
      ],
    });
  });

  it('checks GPU memory and version prefixes from a custom spec', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-spec-'));
    const file = path.join(dir, 'spec.yaml');
    await writeFile(
      file,
      'schema: optibench/reference-spec\nversion: 1\nname: t\ncpu: { cores: 32 }\nmemory: { gigabytes: 360 }\ngpus: { model: V100, count: 4, memoryGB: 32 }\nversions: { nvidia-driver: "550.", cuda: "12." }\n',
    );
    const small = { ...v100, vramMB: 16384 };
    const env = { ...referenceServer, gpus: [small, v100, v100, v100] };
    expect(compareWithReference(await loadReferenceSpec(file), env).differences).toEqual([
      'GPU memory: 16 GB, the reference has 32 GB each',
      'nvidia-driver: 535.104.05, the reference has 550.*',
      'cuda: not found on this machine, the reference has 12.*',
    ]);
  });

  it('refuses a spec with a bad key, naming file, line and key', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-spec-'));
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, 'schema: optibench/reference-spec\nversion: 1\nname: t\ncpu: { cores: -1 }\nmemory: { gigabytes: 1 }\ngpus: { model: x, count: 0 }\n');
    await expect(loadReferenceSpec(file)).rejects.toMatchObject({ location: { file, line: 4, key: 'cpu.cores' } });
  });
});

describe('the unlabeled copy a sandbox reads', () => {
  it('keeps dataset indices and carries no label; a label in it is refused', () => {
    const docs = parseUnlabeled('{"index": 17, "query": "Q", "choices": ["a", "b", "c", "d"]}\n', 'items.unlabeled.jsonl');
    expect(docs).toEqual([{ index: 17, source: 'items.unlabeled.jsonl:1', query: 'Q', choices: ['a', 'b', 'c', 'd'], gold: UNLABELED_PLACEHOLDER_GOLD }]);
    expect(() => parseUnlabeled('{"index": 1, "query": "Q", "choices": ["a", "b", "c", "d"], "label": 2}\n', 'x.unlabeled.jsonl')).toThrow(/unknown key in an unlabeled copy/);
  });
});
