import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The forward-pass and full-dataset tests run real models and a Python reference: give them room.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: parallel ONNX sessions would only fight over them and make timings meaningless.
    fileParallelism: false,
  },
});
