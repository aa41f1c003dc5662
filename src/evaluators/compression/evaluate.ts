/**
 * One round: every sample compressed in one sandbox, decompressed in another (which never sees the original:
 * its own work dir and /tmp, only the compressed bytes in its job), the output's size, dtype and shape checked
 * and every score computed here, outside. A failing call scores that sample 0 with the reason kept; the other
 * samples go on.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EvaluationContext } from '../../core/evaluator.js';
import type { ProgramRunner } from '../../core/program.js';
import { profileOf, type CompressionConfig } from './config.js';
import { order0Entropy } from './entropy.js';
import type { CallContext, ProtocolRunner } from './protocols/call.js';
import { cliProtocol } from './protocols/cli.js';
import { httpProtocol } from './protocols/http.js';
import { measureOverhead, type Overhead } from './protocols/overhead.js';
import type { SampleItem } from './results.js';
import type { LoadedSample } from './sample-set.js';
import { bitExact, FAILED_SAMPLE_SCORE, scoreSample, similarity, type ScoringProfile } from './scoring.js';
import type { Solution } from './solution.js';

export function protocolOf(solution: Solution): ProtocolRunner {
  return solution.manifest.protocol === 'http' ? httpProtocol : cliProtocol;
}

export async function scoreOneSample(index: number, sample: LoadedSample, protocol: ProtocolRunner, call: CallContext, profile: ScoringProfile): Promise<SampleItem> {
  const { tensor, entry } = sample;
  const originalBytes = tensor.bits.length * 2;
  const entropy = order0Entropy(tensor.bits);
  const base = {
    index,
    file: entry.file,
    kind: entry.kind,
    shape: [...tensor.shape],
    originalBytes,
    entropyBitsPerValue: entropy.bitsPerValue,
    entropyRatio: Number.isFinite(entropy.ratio) ? entropy.ratio : null,
  };
  const failed = (failure: string, parts: Partial<SampleItem>): SampleItem => ({
    compressedBytes: null,
    compressSeconds: null,
    decompressSeconds: null,
    compressServerStartSeconds: null,
    decompressServerStartSeconds: null,
    ratio: null,
    similarity: null,
    bitExact: false,
    ...FAILED_SAMPLE_SCORE,
    ...parts,
    ...base,
    failure,
  });
  const compressed = await protocol.compress(tensor, originalBytes, call);
  const compressTimes = { compressSeconds: compressed.seconds, compressServerStartSeconds: compressed.serverStartSeconds };
  if (compressed.value === null) return failed(compressed.failure ?? 'compress: no output', compressTimes);
  if (compressed.value.length === 0) return failed('compress: the output is empty (0 bytes cannot hold a sample)', { ...compressTimes, compressedBytes: 0 });
  const restored = await protocol.decompress(compressed.value, tensor.shape, call);
  const times = { ...compressTimes, compressedBytes: compressed.value.length, decompressSeconds: restored.seconds, decompressServerStartSeconds: restored.serverStartSeconds };
  if (restored.value === null) return failed(restored.failure ?? 'decompress: no output', times);
  if (restored.value.shape.join('x') !== tensor.shape.join('x')) return failed(`decompress: shape ${restored.value.shape.join('x')} is not the sample's ${tensor.shape.join('x')}`, times);
  const exact = bitExact(tensor.bits, restored.value.bits);
  const sim = similarity(tensor.bits, restored.value.bits, profile.name === 'default' ? profile.clipNormSimilarity : true);
  const taskSeconds = compressed.seconds + restored.seconds;
  const score = scoreSample({ originalBytes, compressedBytes: compressed.value.length, taskSeconds, similarity: sim, bitExact: exact }, profile);
  return { ...base, ...times, ratio: score.ratio, similarity: sim, bitExact: exact, raw: score.raw, normalized: score.normalized, failure: null };
}

/** Scores every sample in order; `onItem` hears each as it finishes (the store records it). */
export async function scoreSamples(
  solution: Solution,
  samples: readonly LoadedSample[],
  config: CompressionConfig,
  programs: ProgramRunner,
  context: Pick<EvaluationContext, 'signal' | 'say'>,
  onItem: (item: SampleItem) => void,
  onOverhead?: (overhead: Overhead | null) => void,
): Promise<SampleItem[]> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'optibench-compression-'));
  const call: CallContext = { solution, limits: config.limits, scratch, run: programs, ...(context.signal ? { signal: context.signal } : {}) };
  const protocol = protocolOf(solution);
  const profile = profileOf(config);
  const items: SampleItem[] = [];
  try {
    onOverhead?.(await measureOverhead(call, solution.manifest.protocol, typicalShape(samples)));
    for (const [index, sample] of samples.entries()) {
      context.signal?.throwIfAborted();
      const item = await scoreOneSample(index, sample, protocol, call, profile);
      // Stopped part-way by a Ctrl-C, the sample's call ended early: it is not scored, not a failure of the solution's.
      context.signal?.throwIfAborted();
      context.say?.(`${sample.entry.file}: ${item.failure ?? `ratio ${item.ratio!.toFixed(4)}, ${(item.compressSeconds! + item.decompressSeconds!).toFixed(3)} s, similarity ${item.similarity!.toFixed(6)}${item.bitExact ? ', bit-exact' : ''}`}`);
      items.push(item);
      onItem(item);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return items;
}

/** The shape of the sample of median size: what the http transfer of a typical sample costs. */
function typicalShape(samples: readonly LoadedSample[]): readonly number[] {
  const bySize = [...samples].sort((a, b) => a.tensor.bits.length - b.tensor.bits.length);
  return bySize[Math.floor((bySize.length - 1) / 2)]?.tensor.shape ?? [1];
}
