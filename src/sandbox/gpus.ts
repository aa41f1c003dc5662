/**
 * NVIDIA GPUs for a sandboxed program: the device nodes of the GPUs asked for and the driver's control nodes,
 * nothing else of the host's /dev. The driver's libraries are under /usr, which the sandbox sees anyway.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { OptibenchError } from '../core/errors.js';
import type { DeviceNode } from '../core/program.js';

/** The driver's nodes every CUDA program opens, where the host has them. */
const CONTROL_NODES = ['nvidiactl', 'nvidia-uvm', 'nvidia-uvm-tools', 'nvidia-modeset'];

/** The device nodes for GPUs `indices` (as nvidia-smi numbers them); a GPU the host does not have is refused. */
export function nvidiaDevices(indices: readonly number[], devDir = '/dev'): DeviceNode[] {
  if (indices.length === 0) return [];
  const node = (name: string) => ({ host: path.join(devDir, name), at: path.join('/dev', name) });
  const gpus = [...new Set(indices)].map((i) => {
    if (!Number.isInteger(i) || i < 0) throw new OptibenchError(`expected GPU indices (0, 1, ...), got ${String(i)}`, { key: '--gpus' });
    const gpu = node(`nvidia${i}`);
    if (!existsSync(gpu.host)) throw new OptibenchError(`GPU ${i}: ${gpu.host} does not exist on this machine`, { key: '--gpus' });
    return gpu;
  });
  const control = CONTROL_NODES.map(node).filter((n) => existsSync(n.host));
  if (!control.some((n) => n.at === '/dev/nvidiactl')) throw new OptibenchError(`${path.join(devDir, 'nvidiactl')} does not exist: is the NVIDIA driver loaded?`, { key: '--gpus' });
  return [...control, ...gpus];
}

/** `--gpus 0,1,2,3`. */
export function parseGpuList(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) throw new OptibenchError(`expected a comma-separated list of GPU indices such as 0,1,2,3, got "${value}"`, { key: '--gpus' });
  return parts.map(Number);
}
