/** The backends optibench can run a model on. */
import type { Backend, BackendName } from '../core/backend.js';
import { OnnxBackend } from './onnx/backend.js';
import { PyTorchBackend } from './pytorch/backend.js';

export function createBackend(name: BackendName): Backend {
  switch (name) {
    case 'onnx':
      return new OnnxBackend();
    case 'pytorch':
      return new PyTorchBackend();
  }
}
