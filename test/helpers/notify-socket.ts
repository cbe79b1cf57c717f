import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DgramSocket } from 'node-unix-socket';

/** What systemd would bind as NOTIFY_SOCKET: a real unix datagram socket that records every message. */
export interface NotifySocket {
  readonly dir: string;
  readonly path: string;
  readonly received: string[];
  close(): Promise<void>;
}

export async function bindNotifySocket(prefix: string): Promise<NotifySocket> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const path = join(dir, 'notify.sock');
  const receiver = new DgramSocket();
  const received: string[] = [];
  receiver.on('data', (buf: Buffer) => received.push(buf.toString('utf8')));
  receiver.bind(path);
  return {
    dir,
    path,
    received,
    close: async () => {
      receiver.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
