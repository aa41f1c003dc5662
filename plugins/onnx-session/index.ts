/**
 * onnx-session: ONNX Runtime session settings as a plugin, so a configuration says exactly how the
 * session ran. `graphOptimizationLevel: disabled` gives a truly unoptimized baseline; the default `all`
 * is what ONNX Runtime does when nothing is said.
 */
import { z } from 'zod';
import { defineInferencePlugin } from '../../src/evaluators/inference/hooks.js';

const options = z.strictObject({
  graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
  executionMode: z.enum(['sequential', 'parallel']).default('sequential'),
  /** Busy-waiting worker threads answer faster but burn a core while idle; off is kinder on shared machines. */
  allowSpinning: z.boolean().default(true),
  memoryArena: z.boolean().default(true),
  /** Off by default, as the backend's own default: planned per shape, they cost more than they save when shapes vary. */
  memoryPattern: z.boolean().default(false),
});

export default defineInferencePlugin({
  name: 'onnx-session',
  version: '1.0.0',
  description: 'ONNX Runtime session settings: graph optimisation level, execution mode, thread spinning, memory arena',
  appliesTo: { evaluator: 'inference', targets: ['onnx'] },
  options,
  create(settings) {
    return {
      sessionOptions({ session }) {
        session.extra.graphOptimizationLevel = settings.graphOptimizationLevel;
        session.extra.executionMode = settings.executionMode;
        session.extra.enableCpuMemArena = settings.memoryArena;
        session.extra.enableMemPattern = settings.memoryPattern;
        session.extra.sessionConfig = { 'session.intra_op.allow_spinning': settings.allowSpinning ? '1' : '0' };
      },
      describe: () => ({ ...settings }),
    };
  },
});
