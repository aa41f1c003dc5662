/**
 * Facts about the machine a run happened on, for the results file and the report.
 *
 * systeminformation can stall for seconds on some hosts (it shells out to lspci, nvidia-smi, dmidecode…),
 * and a benchmark must never hang or die for want of a GPU name: every source races one shared deadline,
 * and whatever has not arrived by then comes from Node's `os` module instead.
 */
import os from 'node:os';
import type { Systeminformation } from 'systeminformation';
import { MATMUL_ISA_FLAGS, readCpuinfo } from './cpuinfo.js';
import { packageVersion } from './paths.js';
import { z } from 'zod';

/** The machine a run happened on, as results files and the results database record it. */
export const environmentSchema = z.object({
  cpu: z.object({
    brand: z.string(),
    manufacturer: z.string(),
    cores: z.number(),
    physicalCores: z.number(),
    speedGHz: z.number(),
    /** /proc/cpuinfo's identity where Linux gives one: a VM's brand is often just "EPYC". Absent in older files. */
    family: z.number().int().optional(),
    model: z.number().int().optional(),
    stepping: z.number().int().optional(),
    /** Which of the matrix kernels' instruction sets (`MATMUL_ISA_FLAGS`) the CPU has. Absent in older files. */
    isa: z.array(z.string()).optional(),
  }),
  memory: z.object({ totalBytes: z.number() }),
  gpus: z.array(z.object({ model: z.string(), vendor: z.string(), vramMB: z.number().nullable() })),
  os: z.object({ platform: z.string(), distro: z.string(), release: z.string(), kernel: z.string(), arch: z.string() }),
  hostname: z.string(),
  versions: z.record(z.string(), z.string()),
});

export type Environment = z.infer<typeof environmentSchema>;

/**
 * The machine in one line, for a board row: CPU, logical cores, memory in GiB, GPUs by model
 * ("AMD EPYC 7B13, 32 cores, 360.0 GiB, 4× Tesla V100-SXM2-32GB").
 */
export function describeMachine(env: Environment): string {
  const { manufacturer, brand, cores } = env.cpu;
  // systeminformation gives "AMD" and "EPYC 7B13", but some CPUs repeat the maker in the brand, and the fallback
  // from Node's os module knows no maker ("unknown") but has it in the model name.
  const maker = manufacturer === 'unknown' ? '' : manufacturer;
  const cpu = maker === '' || brand.toLowerCase().startsWith(maker.toLowerCase()) ? brand : `${maker} ${brand}`;
  const gpus = new Map<string, number>();
  for (const gpu of env.gpus) gpus.set(gpu.model, (gpus.get(gpu.model) ?? 0) + 1);
  const gpuText = gpus.size === 0 ? 'no GPU' : [...gpus].map(([model, n]) => `${n}× ${model}`).join(', ');
  return `${cpu.trim() || 'unknown CPU'}, ${cores} cores, ${(env.memory.totalBytes / 1024 ** 3).toFixed(1)} GiB, ${gpuText}`;
}

/**
 * The CPU's identity and matrix instruction sets in a few words ("family 26, model 2, stepping 1; avx2 fma
 * avx512f avx512_vnni"), or '' where the file recorded none (older files, non-Linux hosts).
 */
export function describeCpuIdentity(cpu: Environment['cpu']): string {
  const id = (['family', 'model', 'stepping'] as const).filter((k) => cpu[k] !== undefined).map((k) => `${k} ${cpu[k]}`);
  const parts = [id.join(', '), (cpu.isa ?? []).join(' ')].filter(Boolean);
  return parts.join('; ');
}

export const DEFAULT_ENVIRONMENT_TIMEOUT_MS = 10_000;

export interface CaptureOptions {
  /** Deadline for the whole capture; sources still pending then fall back to `os` values. */
  readonly timeoutMs?: number;
}

export async function captureEnvironment(
  extraVersions: Record<string, string> = {},
  options: CaptureOptions = {},
): Promise<Environment> {
  const deadline = makeDeadline(options.timeoutMs ?? DEFAULT_ENVIRONMENT_TIMEOUT_MS);
  try {
    // The module import is raced too: loading it is part of what may be slow.
    const si = import('systeminformation');
    const [cpu, mem, graphics, osInfo, onnxruntime] = await Promise.all([
      deadline.race(si.then((m) => m.cpu())),
      deadline.race(si.then((m) => m.mem())),
      deadline.race(si.then((m) => m.graphics())),
      deadline.race(si.then((m) => m.osInfo())),
      deadline.race(onnxruntimeVersion()),
    ]);
    const versions: Record<string, string> = { node: process.version, optibench: packageVersion() };
    if (onnxruntime !== undefined) versions.onnxruntime = onnxruntime;
    return {
      cpu: cpuFacts(cpu),
      memory: { totalBytes: mem?.total || os.totalmem() },
      gpus: (graphics?.controllers ?? []).map(gpuFacts),
      os: osFacts(osInfo),
      hostname: os.hostname(),
      versions: { ...versions, ...extraVersions },
    };
  } finally {
    deadline.clear();
  }
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

interface Deadline {
  /** The promise's value, or undefined if it rejects or the deadline passes first. */
  race<T>(promise: Promise<T>): Promise<T | undefined>;
  clear(): void;
}

function makeDeadline(ms: number): Deadline {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    // A stalled child process of systeminformation must not keep the CLI alive either.
    timer.unref();
  });
  return {
    race: (promise) => Promise.race([promise.catch(() => undefined), expired]),
    clear: () => clearTimeout(timer),
  };
}

function cpuFacts(cpu: Systeminformation.CpuData | undefined): Environment['cpu'] {
  return { ...cpuBasics(cpu), ...cpuIdentity() };
}

function cpuIdentity(): Pick<Environment['cpu'], 'family' | 'model' | 'stepping' | 'isa'> {
  const info = readCpuinfo();
  const flags = new Set(info.flags);
  return {
    ...(info.family === undefined ? {} : { family: info.family }),
    ...(info.model === undefined ? {} : { model: info.model }),
    ...(info.stepping === undefined ? {} : { stepping: info.stepping }),
    isa: MATMUL_ISA_FLAGS.filter((flag) => flags.has(flag)),
  };
}

function cpuBasics(cpu: Systeminformation.CpuData | undefined): Environment['cpu'] {
  const cpus = os.cpus();
  const osSpeedGHz = (cpus[0]?.speed ?? 0) / 1000;
  if (!cpu) {
    // Node cannot tell physical from logical cores; the logical count is the honest upper bound.
    return { brand: cpus[0]?.model.trim() || 'unknown', manufacturer: 'unknown', cores: cpus.length, physicalCores: cpus.length, speedGHz: osSpeedGHz };
  }
  return {
    brand: cpu.brand || cpus[0]?.model.trim() || 'unknown',
    manufacturer: cpu.manufacturer || 'unknown',
    cores: cpu.cores || cpus.length,
    physicalCores: cpu.physicalCores || cpu.cores || cpus.length,
    // Virtual machines often report 0 here; 0 then means "not known".
    speedGHz: cpu.speed || cpu.speedMax || osSpeedGHz,
  };
}

function gpuFacts(controller: Systeminformation.GraphicsControllerData): Environment['gpus'][number] {
  const vram = controller.vram;
  return {
    model: controller.model || controller.name || 'unknown',
    vendor: controller.vendor || 'unknown',
    vramMB: typeof vram === 'number' && Number.isFinite(vram) && vram > 0 ? vram : null,
  };
}

function osFacts(info: Systeminformation.OsData | undefined): Environment['os'] {
  return {
    platform: info?.platform || os.platform(),
    distro: info?.distro || os.type(),
    release: info?.release || os.release(),
    kernel: info?.kernel || os.release(),
    arch: info?.arch || os.arch(),
  };
}

async function onnxruntimeVersion(): Promise<string | undefined> {
  // Lazy: loading the native binding costs time and memory that callers of this module may not want.
  const ort = await import('onnxruntime-node');
  return ort.env.versions.node ?? ort.env.versions.common;
}


