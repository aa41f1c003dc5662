/**
 * GPUs in the sandbox, on the mount plan (no GPU is needed): the device nodes of the GPUs asked for and the
 * driver's control nodes are bound into the sandbox's own /dev, and nothing else of the host's /dev. A stand-in
 * /dev with files named as the NVIDIA driver names its nodes plays the host's; the sandbox itself is real.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { nvidiaDevices, parseGpuList } from '../../src/sandbox/gpus.js';
import { BYTES } from '../../src/sandbox/limits.js';
import { bubblewrap } from '../../src/sandbox/sandbox.js';

let dev: string;

beforeAll(async () => {
  dev = await mkdtemp(path.join(os.tmpdir(), 'optibench-fake-dev-'));
  for (const name of ['nvidiactl', 'nvidia-uvm', 'nvidia0', 'nvidia1', 'nvidia2', 'nvidia3']) await writeFile(path.join(dev, name), name);
});

describe('nvidiaDevices', () => {
  it('takes the control nodes the host has and the GPUs asked for, each once', () => {
    expect(nvidiaDevices([2, 0, 2], dev)).toEqual([
      { host: path.join(dev, 'nvidiactl'), at: '/dev/nvidiactl' },
      { host: path.join(dev, 'nvidia-uvm'), at: '/dev/nvidia-uvm' },
      { host: path.join(dev, 'nvidia2'), at: '/dev/nvidia2' },
      { host: path.join(dev, 'nvidia0'), at: '/dev/nvidia0' },
    ]);
    expect(nvidiaDevices([], dev)).toEqual([]);
  });

  it('refuses a GPU the host does not have, and a host without the driver', async () => {
    expect(() => nvidiaDevices([4], dev)).toThrow(`GPU 4: ${path.join(dev, 'nvidia4')} does not exist on this machine`);
    const bare = await mkdtemp(path.join(os.tmpdir(), 'optibench-bare-dev-'));
    await writeFile(path.join(bare, 'nvidia0'), '');
    expect(() => nvidiaDevices([0], bare)).toThrow('nvidiactl does not exist: is the NVIDIA driver loaded?');
    expect(() => parseGpuList('0,x')).toThrow(OptibenchError);
    expect(parseGpuList('0, 1,3')).toEqual([0, 1, 3]);
  });
});

describe('a sandboxed program given GPUs 1 and 3', () => {
  it('sees their nodes and the control node in /dev, and none of the others', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'optibench-gpus-'));
    await mkdir(path.join(work, 'out'));
    const outcome = await bubblewrap.run({
      command: ['/bin/sh', '-c', 'ls /dev | grep nvidia | tr "\\n" " "; cat /dev/nvidia3'],
      workDir: work,
      inputs: [],
      hidden: [],
      devices: nvidiaDevices([1, 3], dev),
      env: { PATH: '/usr/bin:/bin' },
      limits: { wallSeconds: 20, cpuSeconds: 20, memoryBytes: BYTES.GiB, processes: 32, fileBytes: BYTES.MiB, diskBytes: 16 * BYTES.MiB, tmpBytes: 16 * BYTES.MiB },
    });
    expect(outcome.violation).toBeNull();
    expect(outcome.stdoutTail).toBe('nvidia-uvm nvidia1 nvidia3 nvidiactl nvidia3');
  });
});
