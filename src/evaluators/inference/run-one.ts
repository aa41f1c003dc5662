/**
 * Running one configuration of a comparison or a benchmark and writing its results.json and report into
 * its own folder, exactly as `optibench run` would; a run that stops part-way keeps what it computed.
 */
import path from 'node:path';
import { evaluateAndWrite } from '../../core/evaluation.js';
import type { PluginEntry, RunConfig } from './config.js';
import { OptibenchError } from '../../core/errors.js';
import { loadPlugins } from './plugins.js';
import type { InferenceResult } from './results.js';
import { newRunId, runEvaluation, type RunObserver, type RunOptions } from './runner.js';
import { renderRunReport } from './report/render-run.js';
import { ensureRunFolders } from './run-folders.js';
import { defaultCacheDir } from '../../core/paths.js';

export interface WrittenRun {
  readonly results: InferenceResult;
  readonly resultsFile: string;
  readonly reportFile: string;
}

/**
 * Runs one configuration into `dir` through the one run-and-write path (`core/evaluation.ts`): a configuration
 * that stops part-way throws StoppedEvaluation after keeping what it computed; one that computed nothing throws
 * its error.
 */
export async function runAndWrite(config: RunConfig, dir: string, label: string, observer: RunObserver = {}, options: RunOptions = {}): Promise<WrittenRun> {
  const written = await evaluateAndWrite(() => runEvaluation(config, observer, newRunId(config.task), options), dir, {
    label,
    render: renderRunReport,
    hasWork: (partial) => partial.payload.items.length > 0,
    cacheDir: config.cacheDir ?? defaultCacheDir(),
  });
  return { results: written.result, resultsFile: written.resultsFile, reportFile: written.reportFile! };
}

export function pluginName(entry: PluginEntry): string {
  return typeof entry === 'string' ? entry : entry.name;
}

/** A short label for a plugin in tables: the built-in name, or a path's file name. */
export function pluginLabel(entry: PluginEntry): string {
  const name = pluginName(entry);
  return name.includes('/') ? path.basename(name).replace(/\.(m?js|ts)$/, '') : name;
}

/** A folder name safe on every file system. */
export function folderName(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** Loads every configuration's plugins before anything runs: a bad plugin list must not cost a finished baseline. */
export async function checkPlugins(configs: readonly { label: string; config: RunConfig }[]): Promise<void> {
  // The folders too: nothing is worth computing that cannot be written.
  await ensureRunFolders(configs.map((c) => c.config));
  for (const { label, config } of configs) {
    try {
      await loadPlugins(config.plugins, config.backend.name);
    } catch (error) {
      if (error instanceof OptibenchError) {
        throw new OptibenchError(`the ${label} configuration: ${error.message}`, error.location);
      }
      throw error;
    }
  }
}

/** Refuses a pair of configurations that would score different items. */
export function checkSameSelection(a: { label: string; config: RunConfig }, b: { label: string; config: RunConfig }): void {
  for (const key of ['task', 'dataset', 'limit', 'seed', 'limitMode', 'samples'] as const) {
    if (JSON.stringify(a.config[key]) !== JSON.stringify(b.config[key])) {
      throw new OptibenchError(
        `the ${a.label} and the ${b.label} would score different items: ${key} is ${JSON.stringify(a.config[key])} and ${JSON.stringify(b.config[key])}`,
        { key },
      );
    }
  }
}
