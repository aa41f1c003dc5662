/**
 * `optibench model-scale measure <dir>` and `optibench model-scale fit <json...>`: what getting a model ready
 * costs (time, peak memory per phase, disk), and how that grows toward LLaMA-30B.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { writeFileAtomic } from '../../../core/atomic-file.js';
import { OptibenchError } from '../../../core/errors.js';
import { fitScale, type ScaleFit } from '../scale/fit.js';
import { MODEL_SCALE_FORMAT, MODEL_SCALE_VERSION, measureModelScale, type ScaleMeasurement } from '../scale/measure.js';
import { PHASES } from '../scale/phases.js';

const GB = 1e9;
const gb = (bytes: number) => `${(bytes / GB).toFixed(2)} GB`;

export function measurementTable(m: ScaleMeasurement): string {
  const rows = [
    `model ${m.model.dir}: ${(m.model.parameters / 1e6).toFixed(1)}M parameters, ${m.model.weightDtypes.join('+')} in ${m.model.shards} file(s); graph ${m.graphDtype}`,
    'phase   wall s   cpu s   peak RSS    start RSS   load avg',
    ...PHASES.map((p) => {
      const r = m.phases[p];
      return `${p.padEnd(7)} ${r.seconds.toFixed(2).padStart(6)}  ${r.cpuSeconds.toFixed(2).padStart(6)}  ${gb(r.peakRssBytes).padStart(9)}  ${gb(r.startRssBytes).padStart(9)}   ${r.loadAverage.map((l) => l.toFixed(1)).join('-')}`;
    }),
    `disk: safetensors ${gb(m.disk.safetensorsBytes)}, graph ${gb(m.disk.graphBytes)} (external data ${gb(m.disk.externalDataBytes)})`,
  ];
  return `${rows.join('\n')}\n`;
}

export function fitTable(fit: ScaleFit): string {
  const show = (unit: string, v: number) => (unit === 'bytes' ? gb(v) : `${v.toFixed(1)} s`);
  const per = (f: ScaleFit['fits'][number]) =>
    f.unit === 'bytes' ? `${f.slope.toFixed(2)} B/${f.against === 'parameters' ? 'param' : 'element'}` : `${(f.slope * 1e9).toFixed(1)} s/B params`;
  const lines = [
    `fit over ${fit.sizes.map((s) => `${(s.parameters / 1e9).toFixed(2)}B`).join(', ')}; predicted for ${fit.target.name} (${(fit.target.parameters / 1e9).toFixed(2)}B parameters)`,
    'figure                 against      slope            intercept    R^2      30B',
    ...fit.fits.map(
      (f) =>
        `${f.figure.padEnd(22)} ${(f.against === 'parameters' ? 'params' : 'largest').padEnd(12)} ${per(f).padEnd(16)} ${show(f.unit, f.intercept).padStart(10)}  ${f.r2.toFixed(4)}  ${show(f.unit, f.predicted)}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

async function readMeasurement(file: string): Promise<ScaleMeasurement> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new OptibenchError(`cannot read a model-scale measurement: ${(error as Error).message}`, { file });
  }
  const m = json as Partial<ScaleMeasurement> | null;
  if (!m || m.format !== MODEL_SCALE_FORMAT || m.version !== MODEL_SCALE_VERSION) {
    throw new OptibenchError(`expected "format": "${MODEL_SCALE_FORMAT}", "version": ${MODEL_SCALE_VERSION} (written by optibench model-scale measure --json)`, { file });
  }
  return m as ScaleMeasurement;
}

export function registerModelScale(program: Command): void {
  const group = program.command('model-scale').description('What building and loading a model costs (time, peak RSS per phase, disk), and how it grows toward LLaMA-30B');
  group
    .command('measure')
    .description('Read, hash, build the ONNX graph and open a session for one model, each phase in its own process')
    .argument('<model-dir>', 'a Hugging Face LLaMA directory (e.g. from generate-model --preset 1.5b --dtype bf16 --shard-size 100MB)')
    .option('--work <dir>', 'where the graph cache is built (default: a temporary directory, removed afterwards)')
    .option('--keep', 'keep the built graph')
    .option('--json <file>', 'write the measurement as JSON')
    .action(async (modelDir: string, flags: { work?: string; keep?: boolean; json?: string }) => {
      const m = await measureModelScale(modelDir, {
        ...(flags.work ? { workDir: flags.work } : {}),
        keep: flags.keep ?? false,
        onPhase: (phase, r) => process.stderr.write(`${phase}: ${r.seconds.toFixed(2)} s, peak RSS ${gb(r.peakRssBytes)}\n`),
      });
      process.stdout.write(measurementTable(m));
      if (flags.json) await writeFileAtomic(flags.json, `${JSON.stringify(m, null, 2)}\n`);
    });
  group
    .command('fit')
    .description('Fit each figure of two or more measurements linearly and predict it for LLaMA-30B')
    .argument('<measurement...>', 'JSON files from model-scale measure --json')
    .option('--json <file>', 'write the fit as JSON')
    .action(async (files: string[], flags: { json?: string }) => {
      if (files.length < 2) throw new OptibenchError('a fit needs two or more measurements');
      const fit = fitScale(await Promise.all(files.map(readMeasurement)));
      process.stdout.write(fitTable(fit));
      if (flags.json) await writeFileAtomic(flags.json, `${JSON.stringify(fit, null, 2)}\n`);
    });
}
