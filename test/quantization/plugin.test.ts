/**
 * The quantization plugin's options: defaults, the build settings it writes, and refusals that name the key
 * (through the same loader a run uses, so the messages are the ones a user sees).
 */
import { describe, expect, it } from 'vitest';
import type { BuildSettings } from '../../src/core/backend.js';
import { OptibenchError } from '../../src/core/errors.js';
import { loadPlugins } from '../../src/evaluators/inference/plugins.js';
import { parseOnnxBuildExtra } from '../../src/models/llama/graph/build-settings.js';

const model = { hiddenSize: 64, intermediateSize: 172, numLayers: 2, numHeads: 4, numKeyValueHeads: 2, vocabSize: 512 };

async function build(options: unknown): Promise<{ build: BuildSettings; description: unknown }> {
  const [plugin] = await loadPlugins([{ name: 'quantization', options: options as Record<string, unknown> }], 'onnx');
  const settings: BuildSettings = { dtype: 'fp32', extra: {} };
  plugin!.hooks.modelBuild!({ backend: 'onnx', model, build: settings });
  return { build: settings, description: plugin!.hooks.describe!() };
}

async function refusal(options: unknown): Promise<string> {
  const error = await loadPlugins([{ name: 'quantization', options: options as Record<string, unknown> }], 'onnx').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(OptibenchError);
  return (error as OptibenchError).oneLine();
}

describe('quantization plugin options', () => {
  it('defaults to dynamic int8 with per-token activation scales, LM head and embeddings kept in float, every default written out', async () => {
    const { build: settings, description } = await build(undefined);
    expect(settings).toEqual({
      dtype: 'fp32',
      extra: {
        quantization: { mode: 'dynamic-int8', kernel: 'matmul-integer', activations: 'per-token', keepFloat: ['^lm_head\\.weight$', 'embed_tokens'] },
      },
    });
    // What the plugin writes is what the ONNX builder accepts.
    expect(parseOnnxBuildExtra(settings.extra).quantization).toEqual(settings.extra.quantization);
    expect(description).toMatchObject({ mode: 'dynamic-int8', summary: expect.stringContaining('per token (answers independent of the batch)') });
    const weightOnly = await build({ mode: 'weight-only' });
    expect(weightOnly.build.extra.quantization).toEqual({ mode: 'weight-only', bits: 4, blockSize: 32, accuracyLevel: 0, keepFloat: ['^lm_head\\.weight$', 'embed_tokens'] });
    expect(weightOnly.description).toMatchObject({ summary: expect.stringContaining('4-bit weights in blocks of 32') });
  });

  it('dynamic-int8 with either kernel (the kernel and the activation scales default each other); fp16 sets the model dtype as its own option', async () => {
    const q = async (options: unknown) => (await build(options)).build.extra.quantization;
    expect(await q({ kernel: 'dynamic-quantize-matmul' })).toMatchObject({ kernel: 'dynamic-quantize-matmul', activations: 'per-tensor' });
    expect(await q({ activations: 'per-tensor' })).toMatchObject({ kernel: 'dynamic-quantize-matmul', activations: 'per-tensor' });
    expect(await q({ kernel: 'matmul-integer', activations: 'per-tensor' })).toMatchObject({ kernel: 'matmul-integer', activations: 'per-tensor' });
    expect(await q({ kernel: 'matmul-integer' })).toMatchObject({ kernel: 'matmul-integer', activations: 'per-token' });
    const perTensor = await build({ mode: 'dynamic-int8', activations: 'per-tensor' });
    expect(perTensor.description).toMatchObject({ summary: expect.stringContaining('per tensor (answers depend on the batch)') });
    const fp16 = await build({ mode: 'weight-only', bits: 8, fp16: true });
    expect(fp16.build.dtype).toBe('fp16');
    expect(fp16.build.extra.quantization).toMatchObject({ bits: 8 });
    const only = await build({ mode: 'none', fp16: true });
    expect(only.build).toEqual({ dtype: 'fp16', extra: {} });
    expect(only.description).toMatchObject({ mode: 'none', dtype: 'fp16' });
  });

  it.each([
    [{ mode: 'weight-only', bits: 3 }, 'plugins[0].options.bits: bits must be 4 or 8'],
    [{ mode: 'weight-only', bits: '4' }, 'plugins[0].options.bits: bits must be 4 or 8'],
    [{ mode: 'weight-only', blockSize: 48 }, 'plugins[0].options.blockSize: blockSize must be a power of two >= 16'],
    [{ mode: 'weight-only', blockSize: 8 }, 'plugins[0].options.blockSize: blockSize must be a power of two >= 16'],
    [{ mode: 'weight-only', accuracyLevel: 5 }, 'plugins[0].options.accuracyLevel: accuracyLevel must be 0-4'],
    [{ mode: 'int4' }, 'plugins[0].options.mode: Invalid option: expected one of "dynamic-int8"|"weight-only"|"none"'],
    [{ kernel: 'qgemm', mode: 'dynamic-int8' }, 'plugins[0].options.kernel: Invalid option: expected one of "matmul-integer"|"dynamic-quantize-matmul"'],
    [{ keepFloat: ['lm_head('] }, 'plugins[0].options.keepFloat[0]: not a valid regular expression'],
    [{ bitz: 4 }, 'plugins[0].options: Unrecognized key: "bitz"'],
  ])('refuses %o naming the key', async (options, message) => {
    expect(await refusal(options)).toBe(message);
  });

  it.each([
    [{ mode: 'dynamic-int8', bits: 8 }, 'plugins[0].options.bits: bits applies to mode "weight-only" only, not "dynamic-int8"'],
    [{ mode: 'dynamic-int8', blockSize: 64 }, 'plugins[0].options.blockSize: blockSize applies to mode "weight-only" only, not "dynamic-int8"'],
    [{ mode: 'weight-only', kernel: 'matmul-integer' }, 'plugins[0].options.kernel: kernel applies to mode "dynamic-int8" only, not "weight-only"'],
    [{ mode: 'weight-only', activations: 'per-token' }, 'plugins[0].options.activations: activations applies to mode "dynamic-int8" only, not "weight-only"'],
    [
      { mode: 'dynamic-int8', kernel: 'dynamic-quantize-matmul', activations: 'per-token' },
      'plugins[0].options.activations: per-token activation scales need kernel "matmul-integer": DynamicQuantizeMatMul quantizes the whole tensor with one scale',
    ],
    [{ mode: 'none' }, 'plugins[0].options.mode: mode "none" quantizes nothing: it needs fp16: true (or choose dynamic-int8 or weight-only)'],
    [{ mode: 'none', fp16: true, keepFloat: [] }, 'plugins[0].options.keepFloat: keepFloat applies to dynamic-int8 and weight-only, not mode "none"'],
  ])('refuses the incompatible combination %o with the reason', async (options, message) => {
    expect(await refusal(options)).toBe(message);
  });

  it('the ONNX builder refuses a malformed quantization build setting, naming it', () => {
    expect(() => parseOnnxBuildExtra({ quantization: { mode: 'weight-only', bits: 2 } })).toThrow(/build setting quantization\.bits/);
    expect(() => parseOnnxBuildExtra({ quantization: { mode: 'dynamic-int8', bits: 8 } })).toThrow(OptibenchError);
    expect(() => parseOnnxBuildExtra({ quantization: { mode: 'dynamic-int8', activations: 'per-token' } })).toThrow(/quantization\.activations: per-token/);
  });
});
