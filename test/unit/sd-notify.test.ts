import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { captureLogger } from '../helpers/log-capture.js';
import { bindNotifySocket, type NotifySocket } from '../helpers/notify-socket.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SdNotify } from '../../src/ops/sd-notify.js';

describe('SdNotify against a real unix datagram socket', () => {
  let dir: string;
  let socketPath: string;
  let socket: NotifySocket;
  let received: string[];

  beforeEach(async () => {
    socket = await bindNotifySocket('scout-sdnotify-');
    ({ dir, path: socketPath, received } = socket);
  });

  afterEach(async () => {
    await socket.close();
  });

  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

  it('sends READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 as systemd expects them', async () => {
    const { logger, lines } = captureLogger();
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: socketPath }, logger });
    expect(notify.enabled).toBe(true);
    await notify.ready();
    await notify.status('recording 00:12');
    await notify.watchdog();
    await notify.stopping();
    await settle();
    expect(received).toEqual(['READY=1', 'STATUS=recording 00:12', 'WATCHDOG=1', 'STOPPING=1']);
    expect(lines.filter((l) => l.level === 40)).toEqual([]);
  });

  it('keeps STATUS= on one line (a newline would start a new field)', async () => {
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: socketPath }, logger: captureLogger().logger });
    await notify.status('degraded:\n82 C');
    await settle();
    expect(received).toEqual(['STATUS=degraded: 82 C']);
  });

  it('sends nothing and logs nothing when NOTIFY_SOCKET is unset', async () => {
    const { logger, lines } = captureLogger();
    const notify = new SdNotify({ env: {}, logger });
    expect(notify.enabled).toBe(false);
    await notify.ready();
    await notify.watchdog();
    await settle();
    expect(received).toEqual([]);
    expect(lines).toEqual([]);
    expect(notify.watchdogIntervalMs()).toBeNull();
  });

  it('logs a failed send (no listener at the path) instead of throwing', async () => {
    const { logger, lines } = captureLogger();
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: join(dir, 'missing.sock') }, logger });
    await expect(notify.ready()).resolves.toBeUndefined();
    await expect(notify.watchdog()).resolves.toBeUndefined();
    const warnings = lines.filter((l) => l.msg === 'sd_notify send failed');
    // rate limited: two failures in a row give one line
    expect(warnings).toHaveLength(1);
  });

  it('warns once and stays quiet for an abstract socket, which node-unix-socket cannot address', async () => {
    const { logger, lines } = captureLogger();
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: '@scout-test' }, logger });
    expect(notify.enabled).toBe(false);
    await notify.ready();
    await notify.watchdog();
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);
  });

  it('sends nothing after close()', async () => {
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: socketPath }, logger: captureLogger().logger });
    await notify.close();
    await notify.close();
    await notify.watchdog();
    await settle();
    expect(received).toEqual([]);
  });

  it('leaves no open handle behind: a process that notified still exits by itself', async () => {
    const script = join(dir, 'notify-and-end.mts');
    await writeFile(
      script,
      `import { SdNotify } from ${JSON.stringify(resolve(import.meta.dirname, '../../src/ops/sd-notify.ts'))};
import { silentLogger } from ${JSON.stringify(resolve(import.meta.dirname, '../../src/log.ts'))};
const notify = new SdNotify({ env: process.env, logger: silentLogger() });
await notify.ready();
await notify.status('done');
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, NOTIFY_SOCKET: socketPath }, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(received).toEqual(['READY=1', 'STATUS=done']);
  }, 15_000);

  // systemd-notify (systemd 247+) follows each message with BARRIER=1 and waits for it to be read.
  const withoutBarriers = (messages: string[]): string[] => messages.filter((m) => m !== 'BARRIER=1');

  it('sends through systemd-notify, in order, when told to (SCOUT_SD_NOTIFY=systemd-notify)', async () => {
    const { logger, lines } = captureLogger();
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: socketPath, PATH: process.env.PATH, SCOUT_SD_NOTIFY: 'systemd-notify' }, logger });
    expect(notify.transportInUse).toBe('systemd-notify');
    await Promise.all([notify.ready(), notify.status('recording 00:12'), notify.watchdog(), notify.stopping()]);
    await settle();
    expect(withoutBarriers(received)).toEqual(['READY=1', 'STATUS=recording 00:12', 'WATCHDOG=1', 'STOPPING=1']);
    expect(lines.filter((l) => Number(l.level) >= 40)).toEqual([]);
  }, 20_000);

  it('falls back to systemd-notify when the addon cannot load (no binary for the platform), saying so once', async () => {
    const { logger, lines } = captureLogger();
    const missing = (): Promise<never> => Promise.reject(new Error("Cannot find module 'node-unix-socket-linux-arm64-gnu'"));
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: socketPath, PATH: process.env.PATH }, logger, loadAddon: missing });
    expect(notify.transportInUse).toBe('addon');
    await notify.ready();
    await notify.watchdog();
    await settle();
    expect(withoutBarriers(received)).toEqual(['READY=1', 'WATCHDOG=1']);
    expect(notify.transportInUse).toBe('systemd-notify');
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toMatch(/systemd-notify/);
  }, 20_000);

  it('logs one error and never throws when neither the addon nor systemd-notify is there', async () => {
    const { logger, lines } = captureLogger();
    const notify = new SdNotify({ env: { NOTIFY_SOCKET: socketPath }, logger, transport: 'systemd-notify', cliPath: join(dir, 'no-such-systemd-notify') });
    await expect(notify.ready()).resolves.toBeUndefined();
    await expect(notify.watchdog()).resolves.toBeUndefined();
    expect(received).toEqual([]);
    expect(lines.filter((l) => l.level === 50)).toHaveLength(1);
  });

  it('pings at half of WATCHDOG_USEC, only for the pid named in WATCHDOG_PID', () => {
    const logger = captureLogger().logger;
    const at = (env: Record<string, string>): number | null => new SdNotify({ env, logger, pid: 42 }).watchdogIntervalMs();
    expect(at({ WATCHDOG_USEC: '30000000' })).toBe(15_000);
    expect(at({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '42' })).toBe(1500);
    expect(at({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '43' })).toBeNull();
    expect(at({ WATCHDOG_USEC: '0' })).toBeNull();
    expect(at({ WATCHDOG_USEC: 'soon' })).toBeNull();
    expect(at({})).toBeNull();
  });
});
