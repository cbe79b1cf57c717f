import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * A real Mosquitto broker on loopback for one test file: its own free port, a generated config
 * and persistence in a temp dir (so a subscriber's session and its queued messages survive a
 * broker restart, as on a real install). stop()/start() take the broker away and bring it back on
 * the same port; pause()/resume() freeze it (SIGSTOP), so a publish gets no PUBACK in time.
 */
export const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((path) => spawnSync(path, ['-h']).error === undefined) ?? null;

export function mosquittoMissing(): string | null {
  return MOSQUITTO === null ? 'mosquitto is not installed (apt-get install mosquitto)' : null;
}

export interface Broker {
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  pause(): void;
  resume(): void;
  /** Stops it and removes its folder. */
  dispose(): Promise<void>;
  log(): string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** With `user`, anonymous clients are refused and that one user/password is the only login. */
export async function startBroker(options: { user?: { name: string; password: string } } = {}): Promise<Broker> {
  if (MOSQUITTO === null) throw new Error('mosquitto is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'scout-mosquitto-'));
  const port = await freePort();
  const configPath = join(dir, 'mosquitto.conf');
  const access = ['allow_anonymous true'];
  if (options.user) {
    const passwords = join(dir, 'passwords');
    const made = spawnSync('mosquitto_passwd', ['-b', '-c', passwords, options.user.name, options.user.password]);
    if (made.status !== 0) throw new Error(`mosquitto_passwd failed: ${made.stderr.toString()}`);
    access.splice(0, 1, 'allow_anonymous false', `password_file ${passwords}`);
  }
  await writeFile(
    configPath,
    // `user`: started as root, mosquitto would switch to its own user, which cannot read this
    // private temp dir (password file, persistence); as the same user it keeps running as us.
    [`listener ${port} 127.0.0.1`, `user ${userInfo().username}`, ...access, 'persistence true', `persistence_location ${dir}/`, 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', ''].join('\n'),
  );
  let child: ChildProcess | null = null;
  let output = '';
  const broker: Broker = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    async start() {
      if (child) return;
      const started = spawn(MOSQUITTO, ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      started.stdout?.on('data', (text: Buffer) => (output += text.toString()));
      started.stderr?.on('data', (text: Buffer) => (output += text.toString()));
      started.once('exit', () => {
        if (child === started) child = null;
      });
      const deadline = Date.now() + 10_000;
      while (!(await accepts(port))) {
        if (child !== started) throw new Error(`mosquitto exited: ${output}`);
        if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}: ${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      const running = child;
      if (!running) return;
      running.kill('SIGCONT');
      const exited = once(running, 'exit');
      running.kill('SIGTERM');
      await exited;
      child = null;
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async dispose() {
      await broker.stop();
      await rm(dir, { recursive: true, force: true });
    },
    log: () => output,
  };
  await broker.start();
  return broker;
}
