/**
 * What the sandbox runs for a config submission: `optibench serve` without the rest of the CLI.
 *
 * Usage: node serve-entry.js <config> [--no-model]
 */
import { protocolStdout, serve } from './serve.js';

// Before anything else can print: stdout belongs to the protocol.
const write = protocolStdout();
const args = process.argv.slice(2);
const code = await serve(args.find((a) => !a.startsWith('--')), { input: process.stdin, write, log: (m) => process.stderr.write(`optibench serve: ${m}\n`) }, { noModel: args.includes('--no-model') });
// A backend's worker threads must not keep a finished SUT alive; stdout to a pipe is written synchronously.
process.exit(code);
