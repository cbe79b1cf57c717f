import { defineConfig } from 'vitest/config';

/**
 * `npm run test:pi`: the Pi's CPU under qemu-user (test/pi). Separate from the main run because
 * it needs a cached arm64 rootfs and cross builds (minutes cold) and emulation is slow; the main
 * config excludes test/pi so nothing runs twice.
 */
export default defineConfig({
  test: {
    include: process.env['SCOUT_PI_INSTALL_TEST'] === '1' ? ['test/pi/install-pi.test.ts'] : ['test/pi/**/*.test.ts'],
    // install-pi.sh run twice inside the rootfs: its first run compiles better-sqlite3 and
    // whisper.cpp under emulation (far beyond CI's budget, unmeasured) and it has not passed yet;
    // `npm run test:pi:install` runs it alone (docs/PI.md).
    exclude: process.env['SCOUT_PI_INSTALL_TEST'] === '1' ? [] : ['test/pi/install-pi.test.ts'],
    testTimeout: 5 * 60_000,
    // Cold: debootstrap under emulation plus two cross builds of whisper.cpp.
    hookTimeout: 45 * 60_000,
    // Emulated processes are CPU-bound and the machine has two cores; one file at a time keeps
    // each file's timing honest and the rootfs/build locks uncontended.
    maxWorkers: 1,
    fileParallelism: false,
    allowOnly: false,
  },
});
