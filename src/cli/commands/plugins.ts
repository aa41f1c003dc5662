/** `optibench plugins`: the built-in plugins, with what they do and which backends they support. */
import type { Command } from 'commander';
import { builtinPluginNames, loadPluginDefinition } from '../../core/plugin-loader.js';

export function registerPlugins(program: Command): void {
  program
    .command('plugins')
    .description('List the built-in optimization plugins (each has a README in plugins/<name>/)')
    .action(async () => {
      const lines: string[] = [];
      for (const name of builtinPluginNames()) {
        const { definition } = await loadPluginDefinition(name);
        lines.push(`${name.padEnd(18)} ${definition.version.padEnd(8)} [${definition.backends.join(', ')}]  ${definition.description}`);
      }
      process.stdout.write(lines.length ? `${lines.join('\n')}\n` : 'no built-in plugins\n');
    });
}
