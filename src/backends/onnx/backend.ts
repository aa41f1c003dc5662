/**
 * The ONNX Runtime backend (onnxruntime-node, in process). It builds (or takes from the cache) the LLaMA
 * graph, opens a session with the settings plugins chose, and answers batches of requests right-padded to
 * the longest request in the batch.
 */
import * as ort from 'onnxruntime-node';
import type { Backend, LoadInfo, LoadRequest, SessionSettings, TokenAnswer, TokenRequest } from '../../core/backend.js';
import { OptibenchError } from '../../core/errors.js';
import { checkWeights, listWeights, readLlamaConfig } from '../../models/llama/hf-model.js';
import { LLAMA_GRAPH_VERSION, buildLlamaGraph } from '../../models/llama/onnx-graph.js';
import { weightsSha256 } from '../../models/llama/weights-hash.js';
import { cachedGraph, graphCacheKey } from './graph-cache.js';

const GRAPH_OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;

/** Maps optibench's session settings onto onnxruntime-node's options, refusing what it does not know. */
export function toOrtSessionOptions(session: SessionSettings): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: session.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  if (session.intraOpThreads > 0) options.intraOpNumThreads = session.intraOpThreads;
  if (session.interOpThreads > 0) options.interOpNumThreads = session.interOpThreads;
  for (const [key, value] of Object.entries(session.extra)) {
    switch (key) {
      case 'graphOptimizationLevel':
        if (!GRAPH_OPTIMIZATION_LEVELS.includes(value as (typeof GRAPH_OPTIMIZATION_LEVELS)[number])) {
          throw new OptibenchError(`session setting graphOptimizationLevel must be one of ${GRAPH_OPTIMIZATION_LEVELS.join(', ')}`);
        }
        options.graphOptimizationLevel = value as (typeof GRAPH_OPTIMIZATION_LEVELS)[number];
        break;
      case 'executionMode':
        if (value !== 'sequential' && value !== 'parallel') throw new OptibenchError('session setting executionMode must be sequential or parallel');
        options.executionMode = value;
        break;
      case 'enableCpuMemArena':
      case 'enableMemPattern':
        if (typeof value !== 'boolean') throw new OptibenchError(`session setting ${key} must be true or false`);
        options[key] = value;
        break;
      case 'sessionConfig':
        // Free-form ORT session config entries, e.g. { "session.intra_op.allow_spinning": "0" }.
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          throw new OptibenchError('session setting sessionConfig must be an object of strings');
        }
        options.extra = { ...(options.extra ?? {}), ...(value as Record<string, unknown>) };
        break;
      default:
        throw new OptibenchError(`session setting "${key}" is not supported by the ONNX backend (a plugin for another backend?)`);
    }
  }
  return options;
}

/** Input tensors for one right-padded batch; `lengths[b]` is how many positions row b really uses. */
export function packBatch(batch: readonly TokenRequest[]): {
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  targetIds: BigInt64Array;
  seqLen: number;
  lengths: number[];
} {
  const lengths = batch.map((r) => r.context.length + r.continuation.length - 1);
  const seqLen = Math.max(...lengths);
  const size = batch.length * seqLen;
  const inputIds = new BigInt64Array(size);
  const attentionMask = new BigInt64Array(size);
  const targetIds = new BigInt64Array(size);
  batch.forEach((request, b) => {
    const whole = [...request.context, ...request.continuation];
    const row = b * seqLen;
    for (let t = 0; t < lengths[b]!; t++) {
      inputIds[row + t] = BigInt(whole[t]!);
      targetIds[row + t] = BigInt(whole[t + 1]!);
      attentionMask[row + t] = 1n;
    }
  });
  return { inputIds, attentionMask, targetIds, seqLen, lengths };
}

export class OnnxBackend implements Backend {
  readonly name = 'onnx' as const;
  private session: ort.InferenceSession | undefined;
  private maxLength = 0;

  async load(request: LoadRequest): Promise<LoadInfo> {
    const config = await readLlamaConfig(request.modelDir);
    const { files, weights } = await listWeights(request.modelDir);
    checkWeights(config, weights, request.modelDir);
    const sessionOptions = toOrtSessionOptions(request.session);
    request.onProgress?.('hashing weights');
    const sha = await weightsSha256(files, request.cacheDir);
    const key = graphCacheKey({ builderVersion: LLAMA_GRAPH_VERSION, weightsSha256: sha, modelConfig: config, build: request.build });
    const graph = await cachedGraph(request.cacheDir, key, (dir) => buildLlamaGraph(config, weights, request.build, dir, request.onProgress));
    request.onProgress?.('creating ONNX Runtime session');
    try {
      this.session = await ort.InferenceSession.create(graph.modelFile, sessionOptions);
    } catch (error) {
      const message = (error as Error).message.split('\n')[0];
      const hint =
        request.build.dtype === 'fp16' && request.session.executionProvider === 'cpu'
          ? ' (fp16 graphs need kernels the CPU execution provider may lack: use fp32 on CPU or the CUDA provider)'
          : '';
      throw new OptibenchError(`ONNX Runtime could not open the model: ${message}${hint}`, { file: graph.modelFile });
    }
    this.maxLength = config.max_position_embeddings;
    return {
      maxLength: this.maxLength,
      vocabSize: config.vocab_size,
      cacheHit: graph.hit,
      details: {
        onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
        graphFile: graph.modelFile,
        graphKey: key,
        weightsSha256: sha,
        ...graph.facts,
      },
    };
  }

  async loglikelihood(batch: readonly TokenRequest[]): Promise<TokenAnswer[]> {
    const session = this.session;
    if (!session) throw new Error('OnnxBackend.loglikelihood called before load');
    if (batch.length === 0) return [];
    for (const r of batch) {
      if (r.continuation.length === 0 || r.context.length === 0) {
        throw new Error(`request ${r.id}: context and continuation must each hold at least one token`);
      }
      if (r.context.length + r.continuation.length - 1 > this.maxLength) {
        throw new Error(`request ${r.id}: ${r.context.length + r.continuation.length - 1} positions exceed the model's ${this.maxLength}`);
      }
    }
    const packed = packBatch(batch);
    const dims = [batch.length, packed.seqLen];
    const outputs = await session.run({
      input_ids: new ort.Tensor('int64', packed.inputIds, dims),
      attention_mask: new ort.Tensor('int64', packed.attentionMask, dims),
      target_ids: new ort.Tensor('int64', packed.targetIds, dims),
    });
    const logprobs = outputs.target_logprobs!.data as Float32Array;
    const greedy = outputs.target_is_greedy!.data as Uint8Array | boolean[];
    const answers = batch.map((request, b) => {
      const end = b * packed.seqLen + packed.lengths[b]!;
      let sum = 0;
      let isGreedy = true;
      for (let i = end - request.continuation.length; i < end; i++) {
        sum += logprobs[i]!;
        if (!greedy[i]) isGreedy = false;
      }
      return { id: request.id, logprob: sum, isGreedy };
    });
    for (const output of Object.values(outputs)) output.dispose();
    return answers;
  }

  async close(): Promise<void> {
    await this.session?.release();
    this.session = undefined;
  }
}
