/**
 * The phases of getting a model ready, each measured in a process of its own (phase-entry.ts) so each peak
 * resident set is that phase's alone: reading the safetensors, hashing them, building the ONNX graph into the
 * graph cache, and opening the ONNX Runtime session on the cached graph (plus one short forward, to show it runs).
 */
import { OnnxBackend, preparedGraph } from '../../../backends/onnx/backend.js';
import type { JsonValue } from '../../../core/backend.js';
import { listWeights } from '../../../models/llama/hf-model.js';
import { readTensorAsFloat32 } from '../../../models/llama/safetensors.js';
import { weightsSha256 } from '../../../models/llama/weights-hash.js';

export const PHASES = ['read', 'hash', 'build', 'load'] as const;
export type PhaseName = (typeof PHASES)[number];

export interface PhaseInput {
  readonly modelDir: string;
  /** The graph cache the build phase fills and the load phase reads. */
  readonly cacheDir: string;
}

const BUILD = { dtype: 'fp32', extra: {} } as const;
const SESSION = { executionProvider: 'cpu', intraOpThreads: 0, interOpThreads: 1, extra: {} } as const;

/** Runs one phase; what it returns are facts for the record (the clock and the memory are read around it). */
export async function runPhase(phase: PhaseName, input: PhaseInput, lap: (name: string) => void): Promise<{ [key: string]: JsonValue }> {
  switch (phase) {
    case 'read': {
      // What the builder does to every weight (read and widen to float32), without writing anything.
      const { files, weights } = await listWeights(input.modelDir);
      let bytes = 0;
      let largest = 0;
      for (const { entry, file } of weights.values()) {
        const values = await readTensorAsFloat32(entry, file);
        bytes += entry.end - entry.begin;
        largest = Math.max(largest, values.byteLength);
      }
      return { files: files.length, tensors: weights.size, bytesRead: bytes, largestFloat32Bytes: largest };
    }
    case 'hash': {
      const { files } = await listWeights(input.modelDir);
      return { sha256: await weightsSha256(files, input.cacheDir) };
    }
    case 'build': {
      const { graph } = await preparedGraph({ modelDir: input.modelDir, build: BUILD, cacheDir: input.cacheDir });
      if (graph.hit) throw new Error(`the graph was already in ${input.cacheDir}: the build phase needs an empty graph cache`);
      return { graphFile: graph.modelFile, externalDataBytes: graph.facts.externalDataBytes ?? null };
    }
    case 'load': {
      const backend = new OnnxBackend();
      const info = await backend.load({ modelDir: input.modelDir, build: BUILD, session: SESSION, cacheDir: input.cacheDir });
      if (!info.cacheHit) throw new Error('the load phase built the graph again: the build phase did not leave it in the cache');
      lap('session');
      // Eight tokens scored once, spread over the vocabulary from its last piece down, so the embedding is read at its end too (past
      // 2 GB in a large one): the session answers, and the first run's own cost is seen apart.
      const tokens = Array.from({ length: 8 }, (_, i) => Math.max(0, Math.floor((info.vocabSize * (8 - i)) / 8) - 1));
      const probe = { id: 0, group: 0, context: tokens.slice(0, 7), continuation: tokens.slice(7) };
      const answer = await backend.loglikelihood([probe]);
      lap('forward');
      await backend.close();
      return { probe: { context: probe.context, continuation: probe.continuation, logprob: answer.answers[0]!.logprob } };
    }
  }
}
