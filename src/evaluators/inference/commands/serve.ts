/** `optibench serve [config]`: an optibench config as a system under test on stdin/stdout (sut/PROTOCOL.md). */
import type { Command } from 'commander';
import { protocolStdout, serve } from '../sut/serve.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description("Answer the SUT protocol on stdin/stdout with this config's backend and plugins (what an organizer's re-run starts in the sandbox for a config submission); logs go to stderr")
    .argument('[config]', 'the optibench config (default: the built-in defaults); its model and dataset are ignored: the harness sends the model and the requests')
    .option('--no-model', 'answer without loading any model (every log-prob -1): measures what the protocol itself costs')
    .addHelpText('after', '\nTry it against the harness with: optibench sut check -c <config>\n')
    .action(async (config: string | undefined, flags: { model: boolean }) => {
      const write = protocolStdout();
      process.exitCode = await serve(config, { input: process.stdin, write, log: (m) => process.stderr.write(`optibench serve: ${m}\n`) }, { noModel: !flags.model });
    });
}
