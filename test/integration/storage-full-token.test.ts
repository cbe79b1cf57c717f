import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { missingCapability } from '../helpers/capability.js';
import { startScout, waitFor, type ScoutProcess } from '../helpers/scout-process.js';
import { fillToTheLastBlock, mountTmpfs, unmountTmpfs, type Health } from '../helpers/storage.js';

/**
 * A first start on a full card with no API token file: the generated token cannot be written, yet
 * the service comes up with it (in memory, announced), says so in health (the 'storage' check),
 * and stores it once space comes back. Needs root (mount -t tmpfs).
 */

const { mountPoint, problem: mountProblem } = mountTmpfs('full-token');

const skip = missingCapability('a tmpfs mount (root)', mountProblem);

const config = {
  recorder: { minFreeMb: 1, stopReserveMb: 0, reserveAheadMb: 0 },
  ops: { storageCheckMs: 200, healthCacheMs: 0 },
  // Health says degraded (transcription waits) below 2 MB, unhealthy (takes refused) below minFreeMb.
  degradation: { diskFreeMinMbDefer: 2 },
  transcription: { enabled: false },
};



describe.skipIf(skip)('a first start on a full card with no API token file (tmpfs)', () => {
  const dataDir = join(mountPoint, 'data');
  let scout: ScoutProcess | null = null;

  afterAll(async () => {
    await scout?.stop();
    unmountTmpfs(mountPoint);
  });

  it('comes up with the generated token in memory, says so, and stores it when space comes back', async () => {
    mkdirSync(dataDir, { recursive: true });
    // The database and the simulator's clip exist (a token from the environment: no token file).
    const first = await startScout({ dataDir, config });
    expect((await first.stop()).code).toBe(0);
    const tokenPath = join(dataDir, 'api-token');
    expect(existsSync(tokenPath)).toBe(false);

    const filler = fillToTheLastBlock(mountPoint);
    // An empty SCOUT_API_TOKEN is no token: the service generates one.
    scout = await startScout({ dataDir, config, env: { SCOUT_API_TOKEN: '' } });
    const s = scout;
    const announced = await waitFor(() => Promise.resolve(/API token for the page and scripts: (\S+) \(not stored/.exec(s.stderr())?.[1]), 5000);
    const headers = { authorization: `Bearer ${announced}` };
    expect(existsSync(tokenPath)).toBe(false);
    expect(s.logLines.some((line) => line.msg === 'API token generated but not stored: it is valid until the service stops')).toBe(true);
    expect(JSON.stringify(s.logLines)).not.toContain(announced);

    // The token works for this run, and health names the storage fault.
    const health = await waitFor(async () => {
      const report = await s.api<Health>('/healthz', { headers });
      return report.status === 503 ? report : null;
    }, 5000);
    expect(health.body.checks.storage?.status).toBe('unhealthy');
    expect((await s.api('/api/state', { headers })).status).toBe(200);

    for (const path of filler) rmSync(path, { force: true });
    await waitFor(async () => (await s.api<Health>('/healthz', { headers })).status === 200, 10_000);
    await waitFor(() => Promise.resolve(existsSync(tokenPath)), 5000);
    expect(readFileSync(tokenPath, 'utf8').trim()).toBe(announced);
    expect(statSync(tokenPath).mode & 0o777).toBe(0o600);
    expect(s.logLines.some((line) => line.msg === 'API token stored (mode 0600)')).toBe(true);
    expect(s.child.exitCode).toBeNull();
    expect(s.stderr()).not.toMatch(/uncaught|unhandled/i);
    expect((await s.stop()).code).toBe(0);
    scout = null;

    // The next start reads the stored token.
    scout = await startScout({ dataDir, config, env: { SCOUT_API_TOKEN: '' } });
    const again = scout;
    expect((await again.api('/api/state', { headers })).status).toBe(200);
    expect((await again.stop()).code).toBe(0);
    scout = null;
  }, 90_000);
});
