/**
 * The reference-server check: a spec of the competition machine (CPU count, RAM, GPU model and count,
 * driver and library versions) compared with the environment a run captured. A run elsewhere is still
 * recorded, but marked as not from the reference server, with every difference spelled out.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { OptibenchError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import type { Environment } from '../core/environment.js';
import type { ReferenceCheck } from '../core/store.js';
import { parsePositioned } from './yaml-positions.js';

export const referenceSpecSchema = z.strictObject({
  schema: z.literal('optibench/reference-spec'),
  version: z.literal(1),
  name: z.string().min(1),
  cpu: z.strictObject({ cores: z.number().int().positive().describe('Logical CPUs') }),
  memory: z.strictObject({ gigabytes: z.number().positive(), tolerance: z.number().min(0).max(0.5).default(0.05) }),
  gpus: z.strictObject({
    model: z.string().min(1).describe('A substring of every GPU model name'),
    count: z.number().int().min(0),
    memoryGB: z.number().positive().optional(),
    interconnect: z.string().optional().describe('Recorded only: systeminformation cannot see it'),
  }),
  os: z.strictObject({ distro: z.string().min(1).describe('A substring of the distribution name') }).optional(),
  versions: z.record(z.string(), z.string()).default({}).describe('Each a prefix of the captured version of that name'),
});

export type ReferenceSpec = z.infer<typeof referenceSpecSchema>;

export type { ReferenceCheck };

/** The competition's server, shipped with optibench. */
export function defaultReferenceSpecPath(): string {
  return path.join(packageRoot(), 'src', 'submissions', 'reference-server.yaml');
}

export async function loadReferenceSpec(file = defaultReferenceSpecPath()): Promise<ReferenceSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new OptibenchError(`cannot read the reference spec: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { file });
  }
  const parsed = parsePositioned(text);
  if (parsed.syntaxError) throw new OptibenchError(`not valid YAML or JSON: ${parsed.syntaxError.message}`, { file, line: parsed.syntaxError.line });
  const result = referenceSpecSchema.safeParse(parsed.data ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new OptibenchError(issue.message, { file, line: parsed.lineOf(issue.path), key: issue.path.join('.') || '(top level)' });
  }
  return result.data;
}

const GB = 1e9;

export function compareWithReference(spec: ReferenceSpec, env: Environment): ReferenceCheck {
  const differences: string[] = [];
  if (env.cpu.cores !== spec.cpu.cores) differences.push(`CPU: ${env.cpu.cores} logical cores, the reference has ${spec.cpu.cores}`);
  const gigabytes = env.memory.totalBytes / GB;
  if (Math.abs(gigabytes - spec.memory.gigabytes) > spec.memory.gigabytes * spec.memory.tolerance) {
    differences.push(`RAM: ${gigabytes.toFixed(1)} GB, the reference has ${spec.memory.gigabytes} GB`);
  }
  const wanted = spec.gpus.model.toLowerCase();
  const matching = env.gpus.filter((g) => g.model.toLowerCase().includes(wanted));
  if (env.gpus.length !== spec.gpus.count || matching.length !== spec.gpus.count) {
    const seen = env.gpus.length ? env.gpus.map((g) => g.model).join(', ') : 'none';
    differences.push(`GPUs: ${env.gpus.length} (${seen}), the reference has ${spec.gpus.count}x ${spec.gpus.model}`);
  }
  if (spec.gpus.memoryGB !== undefined) {
    const small = matching.filter((g) => g.vramMB === null || g.vramMB < spec.gpus.memoryGB! * 1024 * (1 - spec.memory.tolerance));
    if (small.length) differences.push(`GPU memory: ${small.map((g) => (g.vramMB === null ? 'unknown' : `${Math.round(g.vramMB / 1024)} GB`)).join(', ')}, the reference has ${spec.gpus.memoryGB} GB each`);
  }
  if (spec.os && !env.os.distro.toLowerCase().includes(spec.os.distro.toLowerCase())) {
    differences.push(`OS: ${env.os.distro}, the reference runs ${spec.os.distro}`);
  }
  for (const [name, prefix] of Object.entries(spec.versions)) {
    const actual = env.versions[name];
    if (actual === undefined) differences.push(`${name}: not found on this machine, the reference has ${prefix}*`);
    else if (!actual.startsWith(prefix)) differences.push(`${name}: ${actual}, the reference has ${prefix}*`);
  }
  return { match: differences.length === 0, differences };
}

/** The NVIDIA driver version, for the check's `versions`; undefined without nvidia-smi or a GPU. */
export function nvidiaDriverVersion(timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=driver_version', '--format=csv,noheader'], { timeout: timeoutMs }, (error, stdout) => {
      const first = error ? undefined : stdout.split('\n')[0]?.trim();
      resolve(first || undefined);
    });
  });
}
