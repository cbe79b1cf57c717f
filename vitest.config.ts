import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/pi runs under qemu with its own config (vitest.pi.config.ts, `npm run test:pi`).
    exclude: [...configDefaults.exclude, 'test/pi/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests spawn real arecord, whisper.cpp and systemd; two cores do not take more in parallel.
    maxWorkers: 2,
    allowOnly: false,
  },
});
