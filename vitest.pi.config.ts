import { defineConfig } from 'vitest/config';

/**
 * `npm run test:pi`: the Pi's CPU under qemu-user (test/pi). Separate from the main run because
 * it needs a cached arm64 rootfs and cross builds (minutes cold) and emulation is slow; the main
 * config excludes test/pi so nothing runs twice. install-pi.test.ts is part of it, with the parts
 * that take long to compile built on the host (--whisper-build, --node-modules, --dist).
 * `npm run test:pi:install` (SCOUT_PI_INSTALL_TEST=1) runs only install-pi.test.ts, compiling
 * everything on the emulated box as a Pi without those flags does: slow, by hand (docs/PI.md).
 */
const installOnBox = process.env['SCOUT_PI_INSTALL_TEST'] === '1';

export default defineConfig({
  test: {
    include: installOnBox ? ['test/pi/install-pi.test.ts'] : ['test/pi/**/*.test.ts'],
    // The rootfs and the cross builds, made in parallel before the first file (test/pi/prepare.ts).
    globalSetup: ['test/pi/prepare.ts'],
    // Warm: a few minutes for the whole run (docs/PI.md); one emulated install run takes most.
    testTimeout: 5 * 60_000,
    // Cold: debootstrap under emulation plus two cross builds of whisper.cpp; on the box
    // (test:pi:install): npm, tsc, better-sqlite3 and whisper.cpp compiled under emulation.
    hookTimeout: (installOnBox ? 240 : 90) * 60_000,
    // Emulated processes are CPU-bound and the machine has two cores; one file at a time keeps
    // each file's timing honest and the rootfs/build locks uncontended.
    maxWorkers: 1,
    fileParallelism: false,
    allowOnly: false,
  },
});
