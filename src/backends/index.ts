/** The backends optibench can run a model on. */
import type { Backend, BackendName } from '../core/backend.js';
import { OptibenchError } from '../core/errors.js';
import { OnnxBackend } from './onnx/backend.js';

export function createBackend(name: BackendName): Backend {
  switch (name) {
    case 'onnx':
      return new OnnxBackend();
    case 'pytorch':
      throw new OptibenchError('the pytorch backend is not available yet; use backend.name "onnx"', { key: 'backend.name' });
  }
}
