/**
 * `optibench model-scale measure`: the cost of getting one model ready, phase by phase, each phase in a child
 * process of its own (its peak resident set is its own), plus the disk the weights and the built graph take.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import type { JsonValue } from '../../../core/backend.js';
import { OptibenchError } from '../../../core/errors.js';
import { listWeights, readLlamaConfig } from '../../../models/llama/hf-model.js';
import { PHASES, type PhaseName } from './phases.js';

export const MODEL_SCALE_FORMAT = 'optibench/model-scale';
export const MODEL_SCALE_VERSION = 1;

export interface PhaseMeasurement {
  readonly seconds: number;
  readonly cpuSeconds: number;
  /** The machine's 1-minute load average when the phase started and when it ended. */
  readonly loadAverage: readonly [number, number];
  readonly laps: Record<string, number>;
  readonly startRssBytes: number;
  readonly peakRssBytes: number;
  readonly facts: { [key: string]: JsonValue };
}

export interface ScaleMeasurement {
  readonly format: typeof MODEL_SCALE_FORMAT;
  readonly version: typeof MODEL_SCALE_VERSION;
  readonly model: {
    readonly dir: string;
    readonly parameters: number;
    readonly hiddenSize: number;
    readonly intermediateSize: number;
    readonly numLayers: number;
    readonly numHeads: number;
    readonly vocabSize: number;
    readonly weightDtypes: string[];
    readonly shards: number;
    /** The largest single weight in elements: what the streaming build holds at once. */
    readonly largestTensorElements: number;
  };
  readonly graphDtype: 'fp32';
  readonly phases: Record<PhaseName, PhaseMeasurement>;
  readonly disk: { readonly safetensorsBytes: number; readonly graphBytes: number; readonly externalDataBytes: number };
  readonly machine: { readonly cpus: number; readonly memTotalBytes: number; readonly node: string; readonly onnxruntime: string };
}

function phaseCommand(args: readonly string[]): string[] {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) return [process.execPath, '--import', import.meta.resolve('tsx'), path.join(path.dirname(here), 'phase-entry.ts'), ...args];
  return [process.execPath, path.join(path.dirname(here), 'phase-entry.js'), ...args];
}

async function runPhaseChild(phase: PhaseName, modelDir: string, cacheDir: string): Promise<PhaseMeasurement> {
  const [command, ...args] = phaseCommand([phase, modelDir, cacheDir]);
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, signal) => resolve(signal ? null : c));
  });
  const line = stdout.trim().split('\n').at(-1);
  if (code !== 0 || !line) {
    const why = code === null ? 'was killed (out of memory?)' : `exited ${code}`;
    throw new OptibenchError(`the ${phase} phase ${why}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`, { file: modelDir });
  }
  return JSON.parse(line) as PhaseMeasurement;
}

async function sizeOf(files: readonly string[]): Promise<number> {
  let total = 0;
  for (const file of files) total += (await stat(file)).size;
  return total;
}

export async function measureModelScale(
  modelDir: string,
  options: { workDir?: string; keep?: boolean; onPhase?: (phase: PhaseName, result: PhaseMeasurement) => void } = {},
): Promise<ScaleMeasurement> {
  const config = await readLlamaConfig(modelDir);
  const { files, weights } = await listWeights(modelDir);
  let parameters = 0;
  let largest = 0;
  const dtypes = new Set<string>();
  for (const { entry } of weights.values()) {
    const elements = entry.shape.reduce((a, b) => a * b, 1);
    parameters += elements;
    largest = Math.max(largest, elements);
    dtypes.add(entry.dtype);
  }
  const workDir = options.workDir ?? (await mkdtemp(path.join(os.tmpdir(), 'optibench-scale-')));
  const cacheDir = path.join(workDir, `cache-${process.pid}-${Date.now()}`);
  const phases = {} as Record<PhaseName, PhaseMeasurement>;
  try {
    for (const phase of PHASES) {
      phases[phase] = await runPhaseChild(phase, path.resolve(modelDir), cacheDir);
      options.onPhase?.(phase, phases[phase]);
    }
    const graphFile = String(phases.build.facts.graphFile);
    const graphDir = path.dirname(graphFile);
    const graphFiles = (await readdir(graphDir)).map((f) => path.join(graphDir, f));
    const externalDataBytes = await sizeOf(graphFiles.filter((f) => f.endsWith('.data')));
    const graphBytes = await sizeOf(graphFiles);
    return {
      format: MODEL_SCALE_FORMAT,
      version: MODEL_SCALE_VERSION,
      model: {
        dir: path.resolve(modelDir),
        parameters,
        hiddenSize: config.hidden_size,
        intermediateSize: config.intermediate_size,
        numLayers: config.num_hidden_layers,
        numHeads: config.num_attention_heads,
        vocabSize: config.vocab_size,
        weightDtypes: [...dtypes].sort(),
        shards: files.length,
        largestTensorElements: largest,
      },
      graphDtype: 'fp32',
      phases,
      disk: { safetensorsBytes: await sizeOf(files), graphBytes, externalDataBytes },
      machine: { cpus: os.cpus().length, memTotalBytes: os.totalmem(), node: process.version, onnxruntime: ort.env.versions.common ?? 'unknown' },
    };
  } finally {
    if (!options.keep) await rm(cacheDir, { recursive: true, force: true });
    if (!options.keep && !options.workDir) await rm(workDir, { recursive: true, force: true });
  }
}
