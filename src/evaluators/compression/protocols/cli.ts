/**
 * Protocol `cli` (PROTOCOL.md): one process per call, a job file built by the evaluator in the call's own work
 * dir. The scored time is the sandboxed process's wall time as the runner measures it from outside: from
 * starting bubblewrap to the last process of the sandbox being gone, so it includes the sandbox's setup (a few
 * milliseconds, the same for every solution) and the solution's own start (its interpreter, its imports).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OptibenchError } from '../../../core/errors.js';
import { decodeNpy, encodeNpy } from '../npy.js';
import { callRequest, failureOf, outputCap, tail, withWorkDir, type CallContext, type CallResult, type Phase, type ProtocolRunner } from './call.js';
import { OutputRefused, readCappedBytes } from './output.js';

async function runJob(phase: Phase, input: Buffer, cap: number, context: CallContext): Promise<CallResult<Buffer>> {
  return withWorkDir(context.scratch, phase, async (dir) => {
    const job = path.join(dir, 'job.json');
    const output = path.join(dir, phase === 'compress' ? 'out.bin' : 'out.npy');
    const key = phase === 'compress' ? 'data_to_compress_base64' : 'data_to_decompress_base64';
    await writeFile(job, JSON.stringify({ [key]: input.toString('base64'), expected_output_filepath: output }), { mode: 0o644 });
    const argv = [...context.solution.manifest.command, `--${phase}`, '--input-file', job];
    const outcome = await context.run.run(callRequest(context, dir, argv, cap));
    const base = { seconds: outcome.wallSeconds, serverStartSeconds: null, stderrTail: tail(outcome.stderrTail) };
    if (!outcome.ok) return { ...base, value: null, failure: `${phase}: ${failureOf(outcome)}` };
    try {
      return { ...base, value: await readCappedBytes(output, cap, `${phase} output (${path.basename(output)})`), failure: null };
    } catch (error) {
      if (error instanceof OutputRefused) return { ...base, value: null, failure: `${phase}: ${error.message}` };
      throw error;
    }
  });
}

export const cliProtocol: ProtocolRunner = {
  compress: (tensor, originalBytes, context) => runJob('compress', encodeNpy(tensor), outputCap(originalBytes), context),
  async decompress(compressed, shape, context) {
    // The data and a .npy header, which is at most 64 KiB (version 1's 16-bit header length) plus its prefix.
    const cap = shape.reduce((a, b) => a * b, 1) * 2 + 65536 + 16;
    const called = await runJob('decompress', compressed, cap, context);
    if (called.value === null) return { ...called, value: null };
    try {
      return { ...called, value: decodeNpy(called.value, 'decompress output (out.npy)') };
    } catch (error) {
      if (error instanceof OptibenchError) return { ...called, value: null, failure: `decompress: the output is not the sample's .npy: ${error.message}` };
      throw error;
    }
  },
};
