/**
 * How the cost of getting a model ready grows: a least-squares line through the measured sizes for each
 * figure, its R^2, and the figure it predicts for LLaMA-30B, set against the reference server.
 */
import { LLAMA_30B, llamaParameters } from '../../../models/llama/generate.js';
import type { ScaleMeasurement } from './measure.js';

export interface LineFit {
  readonly intercept: number;
  readonly slope: number;
  /** 1 - residual / total sum of squares; 1 when every point is on the line. */
  readonly r2: number;
}

/** Ordinary least squares y = intercept + slope * x. */
export function fitLine(xs: readonly number[], ys: readonly number[]): LineFit {
  if (xs.length !== ys.length || xs.length < 2) throw new Error(`a line needs two or more points (${xs.length} x, ${ys.length} y)`);
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    syy += (ys[i]! - my) ** 2;
  }
  if (sxx === 0) throw new Error('every point has the same x: no line to fit');
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let residual = 0;
  for (let i = 0; i < n; i++) residual += (ys[i]! - (intercept + slope * xs[i]!)) ** 2;
  return { intercept, slope, r2: syy === 0 ? 1 : 1 - residual / syy };
}

type Unit = 'bytes' | 'seconds';

/** What is fitted: a figure of each measurement, against parameters or against the largest tensor. */
const FIGURES: ReadonlyArray<{ name: string; unit: Unit; against: 'parameters' | 'largestTensorElements'; get: (m: ScaleMeasurement) => number }> = [
  { name: 'read seconds', unit: 'seconds', against: 'parameters', get: (m) => m.phases.read.seconds },
  { name: 'hash seconds', unit: 'seconds', against: 'parameters', get: (m) => m.phases.hash.seconds },
  { name: 'build seconds', unit: 'seconds', against: 'parameters', get: (m) => m.phases.build.seconds },
  { name: 'session seconds', unit: 'seconds', against: 'parameters', get: (m) => m.phases.load.laps.session ?? m.phases.load.seconds },
  { name: 'build CPU seconds', unit: 'seconds', against: 'parameters', get: (m) => m.phases.build.cpuSeconds },
  { name: 'load CPU seconds', unit: 'seconds', against: 'parameters', get: (m) => m.phases.load.cpuSeconds },
  { name: 'read peak RSS', unit: 'bytes', against: 'parameters', get: (m) => m.phases.read.peakRssBytes },
  { name: 'build peak RSS', unit: 'bytes', against: 'parameters', get: (m) => m.phases.build.peakRssBytes },
  // The build streams one weight at a time: its peak should follow the largest weight, not the model.
  { name: 'build peak RSS', unit: 'bytes', against: 'largestTensorElements', get: (m) => m.phases.build.peakRssBytes },
  { name: 'load peak RSS', unit: 'bytes', against: 'parameters', get: (m) => m.phases.load.peakRssBytes },
  { name: 'safetensors disk', unit: 'bytes', against: 'parameters', get: (m) => m.disk.safetensorsBytes },
  { name: 'graph disk (fp32)', unit: 'bytes', against: 'parameters', get: (m) => m.disk.graphBytes },
];

/** The reference server the 30B path is planned for. */
export const REFERENCE_SERVER = { ramBytes: 360e9, gpus: 4, gpuBytes: 32 * 2 ** 30, gpuName: 'V100 32 GB' } as const;

export const LLAMA_30B_TARGET = {
  name: 'LLaMA-30B',
  parameters: llamaParameters(LLAMA_30B, LLAMA_30B.vocabSize!),
  // The embedding (and LM head): 32,000 x 6,656.
  largestTensorElements: LLAMA_30B.vocabSize! * LLAMA_30B.hiddenSize,
} as const;

export interface FigureFit extends LineFit {
  readonly figure: string;
  readonly unit: Unit;
  readonly against: 'parameters' | 'largestTensorElements';
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly predicted: number;
}

export interface ScaleFit {
  readonly format: 'optibench/model-scale-fit';
  readonly version: 1;
  readonly target: typeof LLAMA_30B_TARGET;
  readonly server: typeof REFERENCE_SERVER;
  readonly sizes: ReadonlyArray<{ parameters: number; hiddenSize: number; numLayers: number; intermediateSize: number; vocabSize: number }>;
  readonly fits: readonly FigureFit[];
}

export function fitScale(measurements: readonly ScaleMeasurement[]): ScaleFit {
  const sorted = [...measurements].sort((a, b) => a.model.parameters - b.model.parameters);
  const fits = FIGURES.map((f) => {
    const xs = sorted.map((m) => (f.against === 'parameters' ? m.model.parameters : m.model.largestTensorElements));
    const ys = sorted.map(f.get);
    const line = fitLine(xs, ys);
    const x = f.against === 'parameters' ? LLAMA_30B_TARGET.parameters : LLAMA_30B_TARGET.largestTensorElements;
    return { figure: f.name, unit: f.unit, against: f.against, ...line, points: xs.map((v, i) => [v, ys[i]!] as const), predicted: line.intercept + line.slope * x };
  });
  return {
    format: 'optibench/model-scale-fit',
    version: 1,
    target: LLAMA_30B_TARGET,
    server: REFERENCE_SERVER,
    sizes: sorted.map((m) => ({
      parameters: m.model.parameters,
      hiddenSize: m.model.hiddenSize,
      numLayers: m.model.numLayers,
      intermediateSize: m.model.intermediateSize,
      vocabSize: m.model.vocabSize,
    })),
    fits,
  };
}
