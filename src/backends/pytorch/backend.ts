/**
 * The PyTorch backend: the model runs in a Python worker (`python -m worker`, see PROTOCOL.md) and this
 * side keeps everything else — the requests, the packing into tensors (the same packing and scoring as the
 * ONNX backend, src/backends/scoring.ts), the sums and the clock. The worker implements one scoring op,
 * `forward`, with the ONNX graph's signature.
 *
 * With the tensor-parallel plugin the worker is started through torchrun's module form
 * (`python -m worker.launch --nproc_per_node N ... -m worker`, i.e. `python -m torch.distributed.run` with a
 * fix for torch 1.13 on Python 3.11); rank 0 speaks the protocol.
 */
import net from 'node:net';
import path from 'node:path';
import type { Backend, BatchAnswer, ExecutionProbe, JsonValue, LoadInfo, LoadRequest, TokenRequest } from '../../core/backend.js';
import { OptibenchError } from '../../core/errors.js';
import { packageRoot } from '../../core/paths.js';
import { checkWeights, listWeights, readLlamaConfig } from '../../models/llama/hf-model.js';
import { weightsSha256 } from '../../models/llama/weights-hash.js';
import { checkRequests, scorePairwise, scoreTree, type Forward } from '../scoring.js';
import { PROTOCOL_VERSION, decodeTensor, encodeTensor, type ReadyLine, type WireTensor } from './protocol.js';
import { parsePytorchBuildExtra, parseWorkerSettings } from './settings.js';
import { WorkerProcess } from './worker-process.js';

/** The folder that holds the worker's Python package (`worker/`); it goes on PYTHONPATH. */
export function workerPythonPath(): string {
  return path.join(packageRoot(), 'src', 'backends', 'pytorch');
}

/** The Python module the worker runs as (`python -m worker`). */
export const WORKER_MODULE = 'worker';

/** A free TCP port on the loopback interface, for torchrun's rendezvous. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The command line after the python executable: the worker alone, or torchrun starting `ranks` of it.
 * torchrun is started as `-m worker.launch`: `python -m torch.distributed.run` with a fix for PyTorch < 2.0
 * on Python >= 3.11, whose torchrun cannot parse its own defaults (see worker/launch.py).
 */
export async function workerArgs(tensorParallel: { ranks: number; distBackend: 'gloo' | 'nccl' } | undefined): Promise<string[]> {
  if (!tensorParallel) return ['-m', WORKER_MODULE];
  return [
    '-m',
    `${WORKER_MODULE}.launch`,
    '--nnodes',
    '1',
    '--nproc_per_node',
    String(tensorParallel.ranks),
    '--master_addr',
    '127.0.0.1',
    '--master_port',
    String(await freePort()),
    '--max_restarts',
    '0',
    '--monitor_interval',
    '0.5',
    '-m',
    WORKER_MODULE,
    '--dist-backend',
    tensorParallel.distBackend,
  ];
}

interface LoadResult {
  readonly maxLength: number;
  readonly vocabSize: number;
  readonly [key: string]: JsonValue;
}

export class PyTorchBackend implements Backend {
  readonly name = 'pytorch' as const;
  private worker: WorkerProcess | undefined;
  private probe: ExecutionProbe | undefined;
  private maxLength = 0;
  private treeMask = false;

  /** The worker's process group leader (python, or torchrun's launcher); for tests and diagnostics. */
  get workerPid(): number | undefined {
    return this.worker?.pid;
  }

  /** The worker's ready line (versions, capabilities, rank 0's pid). */
  get workerInfo(): ReadyLine | undefined {
    return this.worker?.info;
  }

  async load(request: LoadRequest): Promise<LoadInfo> {
    this.probe = request.probe;
    if (this.worker) throw new Error('PyTorchBackend.load called twice');
    const settings = parseWorkerSettings(request.session.extra);
    const extra = parsePytorchBuildExtra(request.build.extra);
    const config = await readLlamaConfig(request.modelDir);
    const { files, weights } = await listWeights(request.modelDir);
    checkWeights(config, weights, request.modelDir);
    request.onProgress?.('hashing weights');
    const sha = await weightsSha256(files, request.cacheDir);

    const tp = extra.tensorParallel;
    const device = request.session.executionProvider;
    let distBackend: 'gloo' | 'nccl' | undefined;
    if (tp) {
      distBackend = tp.backend === 'auto' ? (device === 'cuda' ? 'nccl' : 'gloo') : tp.backend;
      if (distBackend === 'nccl' && device !== 'cuda') {
        throw new OptibenchError('tensor-parallel backend nccl runs on GPUs: use backend gloo (or auto) with executionProvider cpu');
      }
    }
    const existing = process.env.PYTHONPATH;
    const env: Record<string, string> = {
      PYTHONPATH: existing ? `${workerPythonPath()}${path.delimiter}${existing}` : workerPythonPath(),
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONIOENCODING: 'utf-8',
    };
    if (tp && request.session.intraOpThreads > 0) env.OMP_NUM_THREADS = String(request.session.intraOpThreads);
    const args = await workerArgs(tp && distBackend ? { ranks: tp.ranks, distBackend } : undefined);
    request.onProgress?.(tp ? `starting the PyTorch worker under torchrun (${tp.ranks} ranks, ${distBackend})` : 'starting the PyTorch worker');
    const worker = WorkerProcess.start({
      python: settings.python,
      args,
      env,
      timeoutMs: settings.timeoutMs,
      echoStderr: process.env.OPTIBENCH_WORKER_LOG === '1',
    });
    this.worker = worker;
    const ready = await worker.ready();
    if (ready.protocol !== PROTOCOL_VERSION) {
      await worker.close();
      throw new OptibenchError(`the PyTorch worker speaks protocol ${ready.protocol}; this optibench speaks ${PROTOCOL_VERSION} (mismatched installation?)`);
    }
    request.onProgress?.(`loading the model in PyTorch ${ready.torch}`);
    const result = (await worker.request(
      'load',
      {
        modelDir: path.resolve(request.modelDir),
        dtype: request.build.dtype,
        device,
        threads: request.session.intraOpThreads,
        extra: request.build.extra,
      },
      request.onProgress,
    )) as LoadResult;
    if (typeof result?.maxLength !== 'number' || typeof result.vocabSize !== 'number') {
      await worker.close();
      throw new OptibenchError('the PyTorch worker answered load without maxLength and vocabSize');
    }
    this.maxLength = Math.min(config.max_position_embeddings, result.maxLength);
    this.treeMask = extra.treeMask;
    const { maxLength: _maxLength, vocabSize: _vocabSize, ...facts } = result;
    return {
      maxLength: this.maxLength,
      vocabSize: result.vocabSize,
      cacheHit: false,
      details: {
        weightsSha256: sha,
        python: settings.python,
        pythonVersion: ready.python,
        torch: ready.torch,
        transformers: ready.transformers,
        workerProtocol: ready.protocol,
        ...facts,
      },
    };
  }

  async loglikelihood(batch: readonly TokenRequest[]): Promise<BatchAnswer> {
    if (!this.worker) throw new Error('PyTorchBackend.loglikelihood called before load');
    if (batch.length === 0) return { answers: [], positions: 0, paddedPositions: 0 };
    checkRequests(batch, this.maxLength);
    return this.treeMask ? scoreTree(this.forward, batch) : scorePairwise(this.forward, batch);
  }

  /**
   * The worker's `forward`: the ONNX graph's inputs in, [rows, scored] log-probs and greedy flags out (one
   * per scored token, before any summing). Public for tests and tools that compare forwards token by token.
   */
  readonly forward: Forward = async (inputs) => {
    const wire: Record<string, WireTensor> = {};
    for (const [name, tensor] of Object.entries(inputs)) wire[name] = encodeTensor(tensor);
    // The probe brackets the whole round trip: the worker's own (de)serialization is part of its execution.
    this.probe?.enter();
    let result: { logprobs?: unknown; greedy?: unknown } | null;
    try {
      result = (await this.worker!.request('forward', { inputs: wire })) as { logprobs?: unknown; greedy?: unknown } | null;
    } finally {
      this.probe?.exit();
    }
    const shape = inputs.score_positions!.dims;
    try {
      return { logprobs: decodeTensor(result?.logprobs, 'float32', shape), greedy: decodeTensor(result?.greedy, 'uint8', shape) };
    } catch (error) {
      await this.worker!.close();
      throw new OptibenchError(`the PyTorch worker answered forward with a bad tensor: ${(error as Error).message}`);
    }
  };

  /**
   * Every weight each rank holds, as `[shape, bytes]` by checkpoint name (one entry per rank): what tensor
   * parallelism's shards look like.
   */
  async weightShapes(): Promise<Record<string, [number[], number]>[]> {
    if (!this.worker) throw new Error('PyTorchBackend.weightShapes called before load');
    const result = (await this.worker.request('shapes')) as { ranks: Record<string, [number[], number]>[] };
    return result.ranks;
  }

  /** The worker's peak resident memory (every rank's, summed: an upper bound of their peak together). */
  async peakRssBytes(): Promise<number | null> {
    if (!this.worker) return null;
    const result = (await this.worker.request('stats')) as { peakRssBytes?: unknown } | null;
    return summedPeakRss(result?.peakRssBytes);
  }

  async close(): Promise<void> {
    await this.worker?.close();
  }
}

/**
 * The ranks' peaks added up, or null unless every one is a positive whole byte count: the worker's answer is
 * read like any untrusted line (JSON.parse turns 1e400 into Infinity, and a float or NaN is no byte count).
 */
export function summedPeakRss(ranks: unknown): number | null {
  if (!Array.isArray(ranks) || ranks.length === 0 || !ranks.every((b) => Number.isSafeInteger(b) && (b as number) > 0)) return null;
  const sum = (ranks as number[]).reduce((total, b) => total + b, 0);
  return Number.isSafeInteger(sum) ? sum : null;
}
