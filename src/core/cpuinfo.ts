/**
 * The CPU as Linux's /proc/cpuinfo names it. A VM's brand string is often just "AMD EPYC": the family, model
 * and stepping say which generation it is (family 25 is Zen 3/4, 26 Zen 5), and the instruction-set flags
 * say which ONNX Runtime kernels it gets (AVX-512, VNNI), which is what a benchmark's figures depend on.
 */
import { readFileSync } from 'node:fs';

export interface CpuInfo {
  readonly vendor?: string;
  readonly family?: number;
  readonly model?: number;
  readonly stepping?: number;
  readonly flags: readonly string[];
}

/** The instruction sets worth recording next to a benchmark: the ones matrix kernels choose between. */
export const MATMUL_ISA_FLAGS = ['avx2', 'fma', 'f16c', 'avx512f', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'avx512_fp16', 'amx_tile', 'amx_bf16', 'amx_int8', 'asimd', 'asimddp', 'sve'] as const;

/** The first processor's entry of a /proc/cpuinfo text (every core of one machine reports the same). */
export function parseCpuinfo(text: string): CpuInfo {
  const first = text.split(/\n\s*\n/, 1)[0] ?? '';
  const field = (name: string): string | undefined => {
    const line = first.split('\n').find((l) => l.slice(0, l.indexOf(':')).trim() === name);
    const value = line?.slice(line.indexOf(':') + 1).trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const number = (name: string): number | undefined => {
    const value = field(name);
    // x86 prints decimal; Arm's "CPU part" and friends are hex and are left out rather than misread.
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
  };
  const flags = (field('flags') ?? field('Features') ?? '').split(/\s+/).filter(Boolean);
  const info: { -readonly [K in keyof CpuInfo]: CpuInfo[K] } = { flags };
  const vendor = field('vendor_id');
  if (vendor !== undefined) info.vendor = vendor;
  const family = number('cpu family');
  if (family !== undefined) info.family = family;
  const model = number('model');
  if (model !== undefined) info.model = model;
  const stepping = number('stepping');
  if (stepping !== undefined) info.stepping = stepping;
  return info;
}

let cached: CpuInfo | undefined;

/** This machine's CPU, read once per process; no flags at all where /proc/cpuinfo cannot be read. */
export function readCpuinfo(): CpuInfo {
  if (cached) return cached;
  try {
    cached = parseCpuinfo(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    cached = { flags: [] };
  }
  return cached;
}
