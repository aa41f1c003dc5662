/**
 * What runs inside the sandbox for a config-form submission: the organizer's optibench on the team's config,
 * with the dataset replaced by the unlabeled copy of the selected items and every output inside the work
 * dir. Writes `<output>/results.json` (or `results.incomplete.json`), like a team's own framework would.
 *
 * Usage: node inner-run.js <config> <model-dir> <items> <output-dir> <cache-dir>
 */
import { loadConfig } from '../config.js';
import { isOptibenchError } from '../../../core/errors.js';
import { evaluateAndWrite, StoppedEvaluation } from '../../../core/evaluation.js';
import { runEvaluation } from '../runner.js';

async function main(argv: readonly string[]): Promise<number> {
  const [configFile, model, items, output, cache] = argv;
  if (!configFile || !model || !items || !output || !cache) {
    process.stderr.write('usage: inner-run <config> <model-dir> <items> <output-dir> <cache-dir>\n');
    return 2;
  }
  const { config } = await loadConfig(configFile, { model, dataset: items, limit: null, outputDir: output, cacheDir: cache });
  try {
    // Even a run that computed nothing writes its (incomplete) results: the organizer's side reads what it can.
    await evaluateAndWrite(() => runEvaluation(config, { phase: (_phase, message) => process.stderr.write(`optibench: ${message}\n`) }), output, { label: 'sandboxed' });
    return 0;
  } catch (error) {
    if (!(error instanceof StoppedEvaluation)) throw error;
    process.stderr.write(`optibench: error: the run stopped: ${(error.cause as Error)?.message ?? String(error.cause)}\n`);
    return 3;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`optibench: error: ${isOptibenchError(error) ? error.oneLine() : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
