/** `optibench compression samples`: generate a sample set from optibench's LLaMA, or download one (--from). */
import { ensureWritableDir } from '../../../core/output-dir.js';
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { positiveInteger } from '../../../core/cli/options.js';
import { OptibenchError } from '../../../core/errors.js';
import { defaultCacheDir } from '../../../core/paths.js';
import { PRESETS, type PresetName } from '../../../models/llama/generate.js';
import { downloadSamples } from '../samples/download.js';
import { generateSamples } from '../samples/generate.js';
import { embeddedDatasetPath, ensurePresetModel } from '../samples/model.js';
import { PYTHON_OPTION_HELP, defaultPython } from './python.js';

interface SamplesFlags {
  output: string;
  model: string;
  dataset?: string;
  count: number;
  batch: number;
  layers?: string;
  bottleneck: number;
  from?: string;
  python: string;
  cacheDir?: string;
}

/** A preset name (generated once into the cache) or a Hugging Face LLaMA directory. */
async function resolveModel(model: string, cacheDir: string, log: (m: string) => void): Promise<string> {
  if (model in PRESETS) return ensurePresetModel(cacheDir, model as PresetName, log);
  try {
    await access(path.join(model, 'config.json'));
  } catch {
    throw new OptibenchError(`--model ${model}: neither a preset (${Object.keys(PRESETS).join(', ')}) nor a directory with config.json`);
  }
  return model;
}

function parseLayers(text: string): number[] {
  const layers = text.split(',').map((s) => s.trim());
  if (!layers.every((s) => /^\d+$/.test(s))) throw new OptibenchError(`--layers ${text}: expected layer indices joined by commas (e.g. 0,4,7)`);
  return layers.map(Number);
}

export function registerSamples(group: Command): void {
  group
    .command('samples')
    .description("Write a sample set (bf16 activations and gradients as <u2 .npy + manifest.csv) from optibench's LLaMA on HellaSwag text, or download one with --from")
    .requiredOption('-o, --output <dir>', 'the folder to write (manifest.csv and the .npy files)')
    .option('--model <preset|dir>', `a preset (${Object.keys(PRESETS).join(', ')}; generated once into the cache) or a Hugging Face LLaMA directory`, 'medium')
    .option('--dataset <file>', 'HellaSwag documents whose text is run (default: the embedded set)')
    .option('--count <n>', 'batches of text; each gives one sample per layer, source and kind', positiveInteger, 1)
    .option('--batch <n>', "sequences of 800 tokens per batch (the tensors' first dimension)", positiveInteger, 2)
    .option('--layers <list>', 'layer indices joined by commas (default: first, middle, last)')
    .option('--bottleneck <k>', 'width of the pipeline bottleneck samples (80..144)', positiveInteger, 128)
    .option('--from <url>', 'download manifest.csv and the files it names from this URL instead (sha256 checked)')
    .option('--python <path>', PYTHON_OPTION_HELP, defaultPython())
    .option('--cache-dir <dir>', 'where preset models are generated (default: ~/.cache/optibench)')
    .action(async (flags: SamplesFlags) => {
      const log = (m: string) => process.stderr.write(`${m}\n`);
      await ensureWritableDir(flags.output, '--output');
      if (!flags.from) await ensureWritableDir(flags.cacheDir ?? defaultCacheDir(), '--cache-dir');
      if (flags.from) {
        const entries = await downloadSamples({ from: flags.from, outDir: flags.output, onProgress: log });
        process.stdout.write(`downloaded ${entries.length} samples to ${flags.output} (every sha256 checked)\n`);
        return;
      }
      if (flags.bottleneck < 80 || flags.bottleneck > 144) throw new OptibenchError(`--bottleneck ${flags.bottleneck}: expected a width in 80..144`);
      const modelDir = await resolveModel(flags.model, flags.cacheDir ?? defaultCacheDir(), log);
      const entries = await generateSamples({
        modelDir,
        datasetPath: flags.dataset ?? embeddedDatasetPath(),
        outDir: flags.output,
        count: flags.count,
        batchSize: flags.batch,
        bottleneckWidth: flags.bottleneck,
        python: flags.python,
        onProgress: log,
        ...(flags.layers ? { layers: parseLayers(flags.layers) } : {}),
      });
      const bytes = entries.reduce((a, e) => a + 2 * e.shape.reduce((x, y) => x * y, 1), 0);
      process.stdout.write(`wrote ${entries.length} samples (${(bytes / 1e6).toFixed(1)} MB of bf16) and manifest.csv to ${flags.output}\n`);
    });
}
