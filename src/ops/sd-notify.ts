import { execFile } from 'node:child_process';
import type { DgramSocket } from 'node-unix-socket';
import type { Logger } from '../log.js';

export type DgramSocketClass = new () => DgramSocket;
let dgramSocketClass: Promise<DgramSocketClass> | null = null;

/**
 * node-unix-socket is a native addon shipped as one prebuilt package per platform. It is loaded
 * on the first message, not at import: without NOTIFY_SOCKET (tests, the simulator, a laptop) it
 * is never needed, and where the platform's binary is missing (npm skips an optional package the
 * registry does not serve) the service logs why instead of dying at start-up.
 */
function loadDgramSocket(): Promise<DgramSocketClass> {
  dgramSocketClass ??= import('node-unix-socket').then((module) => module.DgramSocket);
  return dgramSocketClass;
}

/** How a message reaches the socket: the addon from our own pid, or systemd's CLI from a child. */
export type NotifyTransport = 'addon' | 'systemd-notify';

/** Longer than systemd-notify's own barrier wait would ever need; far below the ping interval. */
const CLI_TIMEOUT_MS = 5000;

/**
 * The sd_notify protocol (systemd's `NOTIFY_SOCKET`) over a unix datagram socket.
 *
 * Node has no unix datagram sockets, so this uses node-unix-socket's `DgramSocket.sendTo`.
 * Where that addon cannot load (no prebuilt binary for the platform: this machine's registry has
 * none for linux-arm64), it falls back to `systemd-notify KEY=value`, which ships with systemd on
 * every box that has a NOTIFY_SOCKET. That sends from a child process, so the unit then needs
 * `NotifyAccess=all` (install-pi.sh writes that drop-in only when the addon fails to load);
 * systemd-notify waits on a barrier until systemd has read the message, so the child exiting
 * straight after cannot make systemd drop it. Messages go out one at a time, in order.
 * Without `NOTIFY_SOCKET` (tests, the simulator, a laptop) it does nothing at all: no socket,
 * no log line. A failed send is logged and swallowed: telling systemd about our state must
 * never be the thing that crashes the appliance.
 *
 * Abstract sockets: `NOTIFY_SOCKET=@name` means the Linux abstract namespace. node-unix-socket
 * (0.2.7) cannot reach those: it passes the whole NUL-padded 108-byte `sun_path` as the address
 * length, so "\0name" only matches a peer that bound the same padded name, and systemd binds the
 * exact length (measured: ECONNREFUSED). systemd as a system or user manager uses a filesystem
 * path (/run/systemd/notify), so this only matters inside some containers; there the notifier
 * logs one warning and stays disabled rather than sending into the void.
 */
export interface SdNotifyOptions {
  /** Usually `process.env`; only NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
  /** Our own pid, compared with WATCHDOG_PID. Default `process.pid`. */
  readonly pid?: number;
  /** Default: `SCOUT_SD_NOTIFY` from `env` when it names one, else the addon. */
  readonly transport?: NotifyTransport;
  /** The CLI used by the `systemd-notify` transport. Default `systemd-notify` (from PATH). */
  readonly cliPath?: string;
  /** Loads the addon; default `import('node-unix-socket')`. Tests make it fail as a missing binary does. */
  readonly loadAddon?: () => Promise<DgramSocketClass>;
}

export interface Notifier {
  ready(): Promise<void>;
  status(text: string): Promise<void>;
  watchdog(): Promise<void>;
  stopping(): Promise<void>;
  watchdogIntervalMs(): number | null;
}

export class SdNotify implements Notifier {
  private closed = false;
  private warnedUnsupported = false;
  private warnedUnavailable = false;
  private warnedCliMissing = false;
  private lastFailureLoggedAtMs = 0;
  private transport: NotifyTransport;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: SdNotifyOptions) {
    const fromEnv = options.env.SCOUT_SD_NOTIFY;
    this.transport = options.transport ?? (fromEnv === 'systemd-notify' ? 'systemd-notify' : 'addon');
  }

  /** The transport in use now (the addon, until it fails to load). */
  get transportInUse(): NotifyTransport {
    return this.transport;
  }

  /** True when systemd gave us a socket we can reach. */
  get enabled(): boolean {
    const path = this.options.env.NOTIFY_SOCKET;
    return path !== undefined && path !== '' && !path.startsWith('@');
  }

  ready(): Promise<void> {
    return this.notify('READY=1');
  }

  /** One line of human state for `systemctl status` ("recording 00:12"). Newlines would end the field. */
  status(text: string): Promise<void> {
    return this.notify(`STATUS=${text.replace(/[\r\n]+/g, ' ')}`);
  }

  watchdog(): Promise<void> {
    return this.notify('WATCHDOG=1');
  }

  stopping(): Promise<void> {
    return this.notify('STOPPING=1');
  }

  /**
   * How often to ping: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends. Null when
   * systemd has no watchdog for us, or when WATCHDOG_PID names another process (the variable
   * was inherited from a parent that is the real watchdog client).
   */
  watchdogIntervalMs(): number | null {
    const usecText = this.options.env.WATCHDOG_USEC;
    if (usecText === undefined || !/^\d+$/.test(usecText)) return null;
    const usec = Number(usecText);
    if (usec <= 0) return null;
    const pidText = this.options.env.WATCHDOG_PID;
    if (pidText !== undefined && pidText !== '' && Number(pidText) !== (this.options.pid ?? process.pid)) return null;
    return Math.max(1, Math.floor(usec / 2000));
  }

  /** Sends one datagram of `KEY=value` lines. Resolves when the kernel took it or the failure was logged; never rejects. */
  notify(message: string): Promise<void> {
    const path = this.options.env.NOTIFY_SOCKET;
    if (path === undefined || path === '' || this.closed) return Promise.resolve();
    if (path.startsWith('@')) {
      if (!this.warnedUnsupported) {
        this.warnedUnsupported = true;
        this.options.logger.warn({ notifySocket: path }, 'abstract NOTIFY_SOCKET is not supported; not notifying systemd');
      }
      return Promise.resolve();
    }
    const next = this.queue.then(() => this.deliver(path, message));
    this.queue = next;
    return next;
  }

  private async deliver(path: string, message: string): Promise<void> {
    if (this.transport === 'addon') {
      try {
        await this.send(await (this.options.loadAddon ?? loadDgramSocket)(), path, message);
        return;
      } catch (error) {
        this.transport = 'systemd-notify';
        if (!this.warnedUnavailable) {
          this.warnedUnavailable = true;
          this.options.logger.warn(
            { err: error },
            'node-unix-socket cannot be loaded on this platform; notifying systemd through systemd-notify (the unit needs NotifyAccess=all)',
          );
        }
      }
    }
    await this.sendWithCli(path, message);
  }

  private sendWithCli(path: string, message: string): Promise<void> {
    return new Promise((resolve) => {
      const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: path };
      if (this.options.env.PATH !== undefined) env.PATH = this.options.env.PATH;
      execFile(this.options.cliPath ?? 'systemd-notify', [message], { env, timeout: CLI_TIMEOUT_MS, killSignal: 'SIGKILL' }, (error, _stdout, stderr) => {
        if (!error) return resolve();
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          if (!this.warnedCliMissing) {
            this.warnedCliMissing = true;
            this.options.logger.error({ err: error }, 'cannot notify systemd: node-unix-socket does not load and systemd-notify is not installed');
          }
        } else {
          this.logFailure(new Error(`systemd-notify: ${stderr.trim() || error.message}`), message);
        }
        resolve();
      });
    });
  }

  private send(Socket: DgramSocketClass, path: string, message: string): Promise<void> {
    return new Promise((resolve) => {
      let socket: DgramSocket | null = null;
      const finish = (): void => {
        this.closeSocket(socket);
        resolve();
      };
      try {
        // One socket per message: a DgramSocket holds the event loop open until closed, and a
        // socket kept for the process lifetime would stop a clean exit. A ping every few seconds
        // makes the extra socket() call irrelevant.
        socket = new Socket();
        socket.on('error', (error: Error) => this.logFailure(error, message));
        const buf = Buffer.from(message, 'utf8');
        socket.sendTo(buf, 0, buf.length, path, (error) => {
          if (error) this.logFailure(error, message);
          finish();
        });
      } catch (error) {
        this.logFailure(error, message);
        finish();
      }
    });
  }

  /** Stops all further messages (after STOPPING=1). Safe to call twice. */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private closeSocket(socket: DgramSocket | null): void {
    if (!socket) return;
    try {
      socket.close();
    } catch (error) {
      this.options.logger.debug({ err: error }, 'closing a notify socket failed');
    }
  }

  private logFailure(error: unknown, message: string): void {
    // systemd gone (e.g. during shutdown) makes every ping fail; one line a minute is enough.
    const now = Date.now();
    if (now - this.lastFailureLoggedAtMs < 60_000) return;
    this.lastFailureLoggedAtMs = now;
    this.options.logger.warn({ err: error, message: message.split('=')[0] }, 'sd_notify send failed');
  }
}
