/**
 * The ONNX Runtime backend (onnxruntime-node, in process). It builds (or takes from the cache) the LLaMA
 * graph, opens a session with the settings plugins chose, and answers batches of requests right-padded to
 * the longest request in the batch.
 */
import * as ort from 'onnxruntime-node';
import path from 'node:path';
import type { Backend, BatchAnswer, BuildSettings, ExecutionProbe, LoadInfo, LoadRequest, OperatorProfile, SessionSettings, TokenRequest } from '../../core/backend.js';
import { OptibenchError } from '../../core/errors.js';
import { checkWeights, listWeights, readLlamaConfig } from '../../models/llama/hf-model.js';
import { parseOnnxBuildExtra } from '../../models/llama/graph/build-settings.js';
import { LLAMA_GRAPH_VERSION, buildLlamaGraph, pastName, presentName } from '../../models/llama/onnx-graph.js';
import { weightsSha256 } from '../../models/llama/weights-hash.js';
import { cachedGraph, graphCacheKey } from './graph-cache.js';
import { withInt8WeightsForThisCpu } from '../../models/llama/graph/quantized-linear.js';
import { checkRequests, scorePairwise, scoreTree, type Forward } from '../scoring.js';
import { readTrace } from './operator-profile.js';
import { groupByPrefix, packContinuationPass, packPrefixPass, sumRow, type Pass } from './pack.js';

const GRAPH_OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;

/** Maps optibench's session settings onto onnxruntime-node's options, refusing what it does not know. */
export function toOrtSessionOptions(session: SessionSettings): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: session.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    // Memory patterns are planned per input shape and pay off only when shapes repeat; a run's batches come in
    // many lengths, so each new shape's planned block was fresh memory to fault in: the first measured
    // pass of the int8 medium graph took ~160,000 more minor page faults (~630 MB) than the later ones, ~0.1 s
    // on a quiet machine and seconds beside other work, fading only over passes. Off, the first pass is like
    // the others (README "Quiet and loaded"). The onnx-session plugin's memoryPattern option turns them on.
    enableMemPattern: false,
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
      case 'profileFilePrefix':
        // ONNX Runtime's per-operator trace (Chrome trace JSON), written when the session is released.
        if (typeof value !== 'string' || value === '') throw new OptibenchError('session setting profileFilePrefix must be a file path prefix');
        options.enableProfiling = true;
        options.profileFilePrefix = value;
        break;
      default:
        throw new OptibenchError(`session setting "${key}" is not supported by the ONNX backend (a plugin for another backend?)`);
    }
  }
  return options;
}

/**
 * The model's graph, from the cache or built now: what `load` does before it opens a session (also run on
 * its own by `optibench model-scale`, to measure the build apart from the session).
 */
export async function preparedGraph(request: Pick<LoadRequest, 'modelDir' | 'build' | 'cacheDir' | 'onProgress'>) {
  const config = await readLlamaConfig(request.modelDir);
  const { files, weights } = await listWeights(request.modelDir);
  checkWeights(config, weights, request.modelDir);
  request.onProgress?.('hashing weights');
  const sha = await weightsSha256(files, request.cacheDir);
  // What this CPU runs exactly is decided before the key: the key names the graph actually built.
  const build = { ...request.build, extra: withInt8WeightsForThisCpu(request.build.extra) as BuildSettings['extra'] };
  const key = graphCacheKey({ builderVersion: LLAMA_GRAPH_VERSION, weightsSha256: sha, modelConfig: config, build });
  const graph = await cachedGraph(request.cacheDir, key, (dir) => buildLlamaGraph(config, weights, build, dir, request.onProgress), request.onProgress);
  return { config, sha, key, graph };
}

export class OnnxBackend implements Backend {
  readonly name = 'onnx' as const;
  private session: ort.InferenceSession | undefined;
  private maxLength = 0;
  /** Set when the graph was built with a key/value cache (the prefix-sharing plugin). */
  private kvCache = false;
  /** Set when the graph takes a tree mask (the prefix-sharing plugin's default method). */
  private treeMask = false;
  private layers = 0;
  private kvHeads = 0;
  private headDim = 0;
  private floatType: 'float32' | 'float16' = 'float32';
  private profiling = false;
  private profileDir: string | undefined;
  private probe: ExecutionProbe | undefined;

  async load(request: LoadRequest): Promise<LoadInfo> {
    this.probe = request.probe;
    if (request.build.dtype === 'bf16') {
      throw new OptibenchError('the ONNX backend runs fp32 or fp16 (bf16 is for the PyTorch backend)', { key: 'backend.dtype' });
    }
    const sessionOptions = toOrtSessionOptions(request.session);
    if (request.profileDir !== undefined) {
      // The caller's directory wins over a plugin's profileFilePrefix: the profile is read back from there.
      sessionOptions.enableProfiling = true;
      sessionOptions.profileFilePrefix = path.join(request.profileDir, 'onnxruntime-profile');
      this.profileDir = request.profileDir;
    }
    const { config, sha, key, graph } = await preparedGraph(request);
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
    const extra = parseOnnxBuildExtra(request.build.extra);
    this.kvCache = extra.kvCache;
    this.treeMask = extra.treeMask;
    this.layers = config.num_hidden_layers;
    this.kvHeads = config.num_key_value_heads;
    this.headDim = config.head_dim;
    this.floatType = request.build.dtype === 'fp16' ? 'float16' : 'float32';
    this.profiling = sessionOptions.enableProfiling === true;
    return {
      maxLength: this.maxLength,
      vocabSize: config.vocab_size,
      cacheHit: graph.hit,
      details: {
        onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
        graphFile: graph.modelFile,
        graphKey: key,
        memoryPattern: sessionOptions.enableMemPattern ?? true,
        weightsSha256: sha,
        ...graph.facts,
      },
    };
  }

  async loglikelihood(batch: readonly TokenRequest[]): Promise<BatchAnswer> {
    if (!this.session) throw new Error('OnnxBackend.loglikelihood called before load');
    if (batch.length === 0) return { answers: [], positions: 0, paddedPositions: 0 };
    checkRequests(batch, this.maxLength);
    if (this.treeMask) return scoreTree(this.forward, batch);
    return this.kvCache ? this.shared(batch) : scorePairwise(this.forward, batch);
  }

  /** Every session run goes through here, bracketed by the caller's probe. */
  private async run(feeds: Record<string, ort.Tensor>, outputs?: string[]): Promise<ort.InferenceSession.OnnxValueMapType> {
    this.probe?.enter();
    try {
      return outputs ? await this.session!.run(feeds, outputs) : await this.session!.run(feeds);
    } finally {
      this.probe?.exit();
    }
  }

  /** One session run on backend-neutral inputs (see scoring.ts). */
  private readonly forward: Forward = async (inputs) => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(inputs)) feeds[name] = new ort.Tensor(tensor.type, tensor.data, [...tensor.dims]);
    const outputs = await this.run(feeds, ['target_logprobs', 'target_is_greedy']);
    const logprobs = outputs.target_logprobs!.data as Float32Array;
    const greedy = outputs.target_is_greedy!.data as Uint8Array;
    return { logprobs, greedy };
  };

  private feeds(pass: Pass): Record<string, ort.Tensor> {
    return {
      input_ids: new ort.Tensor('int64', pass.inputIds, [pass.rows, pass.seq]),
      position_ids: new ort.Tensor('int64', pass.positionIds, [pass.rows, pass.seq]),
      attention_mask: new ort.Tensor('int64', pass.attentionMask, [pass.rows, pass.total]),
      score_positions: new ort.Tensor('int64', pass.scorePositions, [pass.rows, pass.scored]),
      target_ids: new ort.Tensor('int64', pass.targetIds, [pass.rows, pass.scored]),
      key_order: new ort.Tensor('int64', pass.keyOrder, [pass.rows, pass.total]),
    };
  }

  /** Each document's shared prefix once, then every ending on its cache (see pack.ts). */
  private async shared(batch: readonly TokenRequest[]): Promise<BatchAnswer> {
    const groups = groupByPrefix(batch);
    const layers = this.layers;
    const first = packPrefixPass(groups);
    const pastRows = (rows: number[]) => new ort.Tensor('int64', BigInt64Array.from(rows.map(BigInt)), [rows.length]);
    const emptyPast = new ort.Tensor(this.floatType, this.floatType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [groups.length, this.kvHeads, 0, this.headDim]);
    const pastFeeds = (source: (layer: number, which: 'key' | 'value') => ort.Tensor) => {
      const feeds: Record<string, ort.Tensor> = {};
      for (let layer = 0; layer < layers; layer++) {
        for (const which of ['key', 'value'] as const) feeds[pastName(layer, which)] = source(layer, which);
      }
      return feeds;
    };

    // First pass: the prefixes (skipped when every prefix is a single token: nothing to cache).
    let firstOutputs: ort.InferenceSession.OnnxValueMapType | undefined;
    const sharedSums = groups.map(() => ({ logprob: 0, isGreedy: true }));
    if (first.seq > 0) {
      firstOutputs = await this.run({
        ...this.feeds(first),
        past_rows: pastRows(groups.map((_, g) => g)),
        ...pastFeeds(() => emptyPast),
      });
      const logprobs = firstOutputs.target_logprobs!.data as Float32Array;
      const greedy = firstOutputs.target_is_greedy!.data as Uint8Array;
      groups.forEach((_, g) => (sharedSums[g] = sumRow(first, logprobs, greedy, g)));
    }

    // Second pass: every request's own tokens on its group's cache.
    const { pass: second, requests, rowGroup } = packContinuationPass(groups, first.seq);
    const secondOutputs = await this.run(
      {
        ...this.feeds(second),
        past_rows: pastRows(rowGroup),
        ...pastFeeds((layer, which) => (firstOutputs ? (firstOutputs[presentName(layer, which)] as ort.Tensor) : emptyPast)),
      },
      ['target_logprobs', 'target_is_greedy'],
    );
    const logprobs = secondOutputs.target_logprobs!.data as Float32Array;
    const greedy = secondOutputs.target_is_greedy!.data as Uint8Array;
    const answers = requests.map((request, row) => {
      const own = sumRow(second, logprobs, greedy, row);
      const prefix = sharedSums[rowGroup[row]!]!;
      return { id: request.id, logprob: prefix.logprob + own.logprob, isGreedy: prefix.isGreedy && own.isGreedy };
    });
    for (const output of [...Object.values(firstOutputs ?? {}), ...Object.values(secondOutputs)]) output.dispose();
    return {
      answers,
      positions: first.positions + second.positions,
      paddedPositions: first.rows * first.seq + second.rows * second.seq,
    };
  }

  async operatorProfile(skipRuns: number): Promise<OperatorProfile> {
    if (!this.session || this.profileDir === undefined) throw new Error('OnnxBackend.operatorProfile needs a session loaded with profileDir');
    if (this.profiling) {
      // endProfiling writes the trace and stops the profiler; close() must not end it again.
      this.session.endProfiling();
      this.profiling = false;
    }
    return readTrace(this.profileDir, skipRuns);
  }

  async close(): Promise<void> {
    if (this.profiling) this.session?.endProfiling();
    await this.session?.release();
    this.session = undefined;
  }
}
