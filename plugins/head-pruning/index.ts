/**
 * head-pruning: lm-evaluation-harness computes logits and a log-softmax over the whole vocabulary at every
 * position, though only the continuation's positions are scored. This plugin builds the graph so the final
 * norm, the LM head and the log-softmax run only at the scored positions. Same numbers, less work: with
 * LLaMA's 32,000-piece vocabulary the head is a large share of a small model's forward.
 */
import { defineInferencePlugin } from '../../src/evaluators/inference/hooks.js';

export default defineInferencePlugin({
  name: 'head-pruning',
  version: '1.0.0',
  description: 'Runs the final norm, LM head and log-softmax only at the positions whose next token is scored',
  appliesTo: { evaluator: 'inference', targets: ['onnx'] },
  create() {
    return {
      modelBuild({ build }) {
        build.extra.head = 'scored';
      },
      describe: () => ({ head: 'scored positions only' }),
    };
  },
});
