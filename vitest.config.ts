import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests spawn real arecord, whisper.cpp and systemd; two cores do not take more in parallel.
    maxWorkers: 2,
    allowOnly: false,
  },
});
