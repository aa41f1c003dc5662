/** The requests a SUT is asked, built on the organizer's side from the labelled items and the model's tokenizer. */
import { performance } from 'node:perf_hooks';
import { readLlamaConfig } from '../../../models/llama/hf-model.js';
import { hellaswagTask, type HellaswagDoc } from '../../../tasks/hellaswag/index.js';
import { loadTokenizer } from '../../../tokenizers/tokenizer.js';
import { buildPlan, type Plan } from '../plan.js';

export interface SutPlan {
  readonly plan: Plan<HellaswagDoc>;
  readonly vocabSize: number;
  readonly prepareMs: number;
}

export async function planForSut(docs: readonly HellaswagDoc[], modelDir: string): Promise<SutPlan> {
  const t = performance.now();
  const llama = await readLlamaConfig(modelDir);
  const tokenizer = await loadTokenizer(modelDir);
  const plan = buildPlan(hellaswagTask, docs, tokenizer, llama.max_position_embeddings);
  return { plan, vocabSize: llama.vocab_size, prepareMs: performance.now() - t };
}
