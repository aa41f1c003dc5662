/** `optibench plugins`: the built-in plugins, each with the evaluator and targets it applies to. */
import type { Command } from 'commander';
import { builtinPluginNames, loadPluginDefinition } from '../../core/plugin-loader.js';

export function registerPlugins(program: Command): void {
  program
    .command('plugins')
    .description('List the built-in plugins with the evaluator and the targets (backends) each applies to (each has a README in plugins/<name>/)')
    .option('--evaluator <id>', 'only the plugins of this evaluator')
    .action(async (flags: { evaluator?: string }) => {
      const rows: string[][] = [];
      for (const name of builtinPluginNames()) {
        const { definition } = await loadPluginDefinition(name);
        const { evaluator, targets } = definition.appliesTo;
        if (flags.evaluator !== undefined && evaluator !== flags.evaluator) continue;
        rows.push([name, definition.version, `[${targets ? targets.join(', ') : 'all'}]`, evaluator, definition.description]);
      }
      if (rows.length === 0) {
        process.stdout.write(flags.evaluator === undefined ? 'no built-in plugins\n' : `no built-in plugins for the ${flags.evaluator} evaluator\n`);
        return;
      }
      const table = [['plugin', 'version', 'targets', 'evaluator', 'what it does'], ...rows];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
      process.stdout.write(`${table.map((r) => r.map((cell, i) => (i < r.length - 1 ? cell.padEnd(widths[i]!) : cell)).join('  ')).join('\n')}\n`);
    });
}
