/**
 * The backend contract: load a model, answer log-likelihood requests, close.
 *
 * A backend only answers. The runner owns the dataset, the tokenizer, the order of requests and the clock:
 * a backend never reads a clock for the figures optibench reports and never sees a label. The same
 * contract serves an in-process backend (ONNX Runtime) and one in a child process (the PyTorch worker).
 */

export type BackendName = 'onnx' | 'pytorch';

export type Dtype = 'fp32' | 'fp16' | 'bf16';

import type { JsonValue } from './json.js';

/** JSON-compatible values: what plugins may put into build and session settings (they key caches). */
export type { JsonValue };

/**
 * One request in token form. `context` and `continuation` are already truncated on the left so that
 * `context.length + continuation.length <= maxLength + 1`; the backend feeds `(context + continuation)[:-1]`
 * and scores the continuation tokens, as lm-evaluation-harness does.
 */
export interface TokenRequest {
  /**
   * Unique within a batch; answers are matched by it. A canary batch (anti-cheat, `core/canary.ts`) issues a
   * document's ids again carrying other endings: answer the tokens given, never an id seen before.
   */
  readonly id: number;
  /** Requests of one document share a group (they share the context, which a backend may exploit). */
  readonly group: number;
  readonly context: readonly number[];
  readonly continuation: readonly number[];
}

/** What a backend returns for one batch. */
export interface BatchAnswer {
  readonly answers: TokenAnswer[];
  /**
   * Token positions the model computed for the batch, padding excluded: "tokens through the model". A
   * backend that shares contexts between requests counts each shared position once.
   */
  readonly positions: number;
  /** Positions computed including padding (the padding's share is wasted work). */
  readonly paddedPositions: number;
}

export interface TokenAnswer {
  readonly id: number;
  /** Sum of log-probabilities of the continuation tokens. */
  readonly logprob: number;
  /** Whether every continuation token is the arg-max of its position. */
  readonly isGreedy: boolean;
}

/** The shape of the model being run, as plugins see it. */
export interface ModelInfo {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly vocabSize: number;
}

/** What the model build looks like; plugins change it in their `modelBuild` hook. Part of the cache key. */
export interface BuildSettings {
  dtype: Dtype;
  /** Backend-specific settings added by plugins, e.g. `{ fusions: ["rmsnorm"] }`. */
  extra: { [key: string]: JsonValue };
}

/** How the backend runs the model; plugins change it in their `sessionOptions` hook. */
export interface SessionSettings {
  executionProvider: 'cpu' | 'cuda';
  /** 0 lets the runtime choose. */
  intraOpThreads: number;
  interOpThreads: number;
  /** Backend-specific settings added by plugins, e.g. `{ graphOptimizationLevel: "all" }`. */
  extra: { [key: string]: JsonValue };
}

export interface LoadRequest {
  /** A Hugging Face LLaMA directory (config.json, *.safetensors, tokenizer.json). */
  readonly modelDir: string;
  readonly build: BuildSettings;
  readonly session: SessionSettings;
  /** Where built artefacts (ONNX graphs) are cached between runs. */
  readonly cacheDir: string;
  /** Progress of a long load (building a graph), for the user; optional. */
  readonly onProgress?: (message: string) => void;
  /** Told right before and after each model execution; optional (see ExecutionProbe). */
  readonly probe?: ExecutionProbe;
  /**
   * Turn on the runtime's own per-operator profiler, writing its trace under this directory (one the caller
   * created for it); `operatorProfile` then reads it back. Only for a backend that has `operatorProfile`.
   */
  readonly profileDir?: string;
}

/**
 * Where a forward's time goes, from the runtime's own profiler: each operator's kernel time, summed per graph
 * scope (`attn`, `mlp`, `head`, ... with the layer number dropped). For looking, never for ranking: the
 * profiler's own bookkeeping slows the runs it watches.
 */
export interface OperatorProfile {
  /** Model executions summed here (those before them, the warm-up, are left out). */
  readonly runs: number;
  /** Their wall time inside the runtime (its own per-execution events), ms. */
  readonly runMs: number;
  /** The kernels' summed time, ms; the rest of runMs is the runtime's work between kernels. */
  readonly kernelMs: number;
  /** One entry per (scope, operator), the operator as the runtime ran it (after its own graph rewrites). */
  readonly kernels: readonly OperatorTime[];
}

export interface OperatorTime {
  readonly scope: string;
  readonly operator: string;
  /** Kernel executions summed (nodes x runs). */
  readonly calls: number;
  readonly ms: number;
  /** Matrix products only: their floating-point operations (2 x M x N x K per call), from the recorded shapes. */
  readonly flops?: number;
}

/**
 * Brackets each model execution (an ONNX Runtime `session.run`, a PyTorch worker's `forward` round trip) so the
 * caller can time the harness around the model — packing, unpacking, scoring — without the backend reading a
 * clock. The runner sums `enter`-to-`exit` per measured pass; the rest of the pass is harness overhead.
 */
export interface ExecutionProbe {
  enter(): void;
  exit(): void;
}

/** Facts about the loaded model, for results and reports. */
export interface LoadInfo {
  /** Sequence length the model accepts (requests are truncated to it). */
  readonly maxLength: number;
  readonly vocabSize: number;
  /** Whether the load used an artefact from the cache or built it now. */
  readonly cacheHit: boolean;
  /** Backend-specific facts, e.g. the runtime version, the graph path, the fusions applied. */
  readonly details: { [key: string]: JsonValue };
}

export interface Backend {
  readonly name: BackendName;
  load(request: LoadRequest): Promise<LoadInfo>;
  /** Answers one batch; the answers may come in any order and are matched by `id`. */
  loglikelihood(batch: readonly TokenRequest[]): Promise<BatchAnswer>;
  /**
   * For a backend whose model runs in other processes (the PyTorch worker): their peak resident memory so
   * far, summed over them, or null when they cannot say. Absent for in-process backends, whose memory is
   * optibench's own.
   */
  peakRssBytes?(): Promise<number | null>;
  /**
   * For a backend loaded with `profileDir`: stops the profiler and summarises what it recorded, leaving out
   * the first `skipRuns` model executions (the caller counts them with its probe). Absent where the runtime
   * has no per-operator profiler the backend can read.
   */
  operatorProfile?(skipRuns: number): Promise<OperatorProfile>;
  close(): Promise<void>;
}
