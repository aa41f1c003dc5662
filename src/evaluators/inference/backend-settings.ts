/**
 * How the backend builds and runs the model: the config's backend section, then each plugin's `modelBuild`
 * and `sessionOptions` hooks in config order. The in-process run and `optibench serve` (a config as a SUT)
 * load the model the same way.
 */
import type { BuildSettings, ModelInfo, SessionSettings } from '../../core/backend.js';
import { defaultPython } from '../../core/paths.js';
import type { RunConfig } from './config.js';
import type { LoadedInferencePlugin } from './plugins.js';

export function backendSettings(backend: RunConfig['backend'], plugins: readonly LoadedInferencePlugin[], model: ModelInfo): { build: BuildSettings; session: SessionSettings } {
  const build: BuildSettings = { dtype: backend.dtype, extra: {} };
  const session: SessionSettings = {
    executionProvider: backend.executionProvider,
    intraOpThreads: backend.intraOpThreads,
    interOpThreads: backend.interOpThreads,
    // The PyTorch worker's own settings; the ONNX backend refuses keys it does not know, so they go only there.
    extra: backend.name === 'pytorch' ? { python: backend.python ?? defaultPython(), workerTimeoutSeconds: backend.workerTimeoutSeconds } : {},
  };
  for (const plugin of plugins) plugin.hooks.modelBuild?.({ backend: backend.name, model, build });
  for (const plugin of plugins) plugin.hooks.sessionOptions?.({ backend: backend.name, session });
  return { build, session };
}
