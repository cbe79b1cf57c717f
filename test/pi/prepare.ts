/**
 * globalSetup of `npm run test:pi`: makes what the files need before the first one starts, in
 * parallel. Each file would otherwise wait for the arm64 rootfs (debootstrap under emulation,
 * one busy core for most of it) and only then build whisper.cpp for the boards; here the cross
 * builds run on the other core meanwhile. Warm caches make this a few cache hits. Where arm64
 * cannot run at all, it does nothing: each file says why (and fails under SCOUT_REQUIRE_ALL=1).
 */
import { arm64Unavailable, ensureArm64NodeModules, ensureArm64Root, ensurePiWhisper } from '../helpers/arm64-root.js';

export default async function prepare(): Promise<void> {
  if ((await arm64Unavailable()) !== null) return;
  const started = Date.now();
  const onBox = process.env['SCOUT_PI_INSTALL_TEST'] === '1';
  const [root] = await Promise.all([ensureArm64Root(), ...(onBox ? [] : [ensurePiWhisper('pi4'), ensurePiWhisper('pi5')])]);
  if (!onBox) await ensureArm64NodeModules(root);
  console.log(`test:pi: arm64 rootfs${onBox ? '' : ', Pi 4 / Pi 5 builds and arm64 node_modules'} ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
