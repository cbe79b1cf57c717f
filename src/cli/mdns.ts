/**
 * Finding boxes on the LAN by mDNS/DNS-SD. Each box announces `_http._tcp` with TXT
 * `product=scout` and `path=/` (provisioning/avahi/scout.service). We ask for the PTR records of
 * `_http._tcp.local`, gather the SRV (host, port), TXT and A/AAAA records that come back in the
 * answers and additional sections of any number of responses, ask again for whatever an
 * answer left out, and keep the services whose TXT says `product=scout`.
 * The parsing (`collectServices`) is pure, so it is tested on recorded packets as well.
 */
import makeMdns from 'multicast-dns';

export const SERVICE_TYPE = '_http._tcp.local';

/** A resource record as multicast-dns decodes it (only the fields and types we read). */
export interface MdnsRecord {
  readonly name: string;
  readonly type: string;
  readonly data?: unknown;
}

export interface MdnsPacket {
  readonly answers?: readonly MdnsRecord[];
  readonly additionals?: readonly MdnsRecord[];
}

export interface FoundBox {
  /** The instance name as announced, e.g. "Scout on kitchen". */
  readonly name: string;
  readonly host: string;
  readonly addresses: readonly string[];
  readonly port: number;
  readonly txt: Readonly<Record<string, string>>;
  /** Where to send API calls; built from the first IPv4 address (else IPv6, else the host name). */
  readonly url: string;
}

interface Gathered {
  /** Lower-cased instance name -> the name as announced (shown to people). */
  readonly instances: Map<string, string>;
  readonly srv: Map<string, { target: string; port: number }>;
  readonly txt: Map<string, Record<string, string>>;
  readonly addresses: Map<string, Set<string>>;
}

export function emptyGathered(): Gathered {
  return { instances: new Map(), srv: new Map(), txt: new Map(), addresses: new Map() };
}

const lower = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** Adds the records of one packet. Names are compared without case, as DNS does. */
export function gather(into: Gathered, packet: MdnsPacket): void {
  for (const record of [...(packet.answers ?? []), ...(packet.additionals ?? [])]) {
    const name = lower(record.name);
    switch (record.type) {
      case 'PTR':
        if (name === SERVICE_TYPE && typeof record.data === 'string') into.instances.set(lower(record.data), record.data.replace(/\.$/, ''));
        break;
      case 'SRV': {
        const data = record.data as { target?: unknown; port?: unknown } | undefined;
        if (typeof data?.target === 'string' && typeof data.port === 'number') into.srv.set(name, { target: lower(data.target), port: data.port });
        break;
      }
      case 'TXT':
        into.txt.set(name, parseTxt(record.data));
        break;
      case 'A':
      case 'AAAA':
        if (typeof record.data === 'string') {
          const set = into.addresses.get(name) ?? new Set<string>();
          set.add(record.data);
          into.addresses.set(name, set);
        }
        break;
      default:
        break;
    }
  }
}

/** TXT data: one buffer or string per `key=value`; keys without case, values as given. */
export function parseTxt(data: unknown): Record<string, string> {
  const items = Array.isArray(data) ? (data as unknown[]) : [data];
  const txt: Record<string, string> = {};
  for (const item of items) {
    const text = Buffer.isBuffer(item) ? item.toString('utf8') : typeof item === 'string' ? item : '';
    if (text === '') continue;
    const equals = text.indexOf('=');
    const key = (equals === -1 ? text : text.slice(0, equals)).toLowerCase();
    // RFC 6763: the first occurrence of a key wins.
    if (!(key in txt)) txt[key] = equals === -1 ? '' : text.slice(equals + 1);
  }
  return txt;
}

/** The scout boxes among what was gathered, complete ones only, sorted by name. */
export function collectServices(gathered: Gathered): FoundBox[] {
  const boxes: FoundBox[] = [];
  for (const [instance, announced] of gathered.instances) {
    const srv = gathered.srv.get(instance);
    const txt = gathered.txt.get(instance);
    if (!srv || !txt || txt.product !== 'scout') continue;
    const addresses = [...(gathered.addresses.get(srv.target) ?? [])].sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
    const address = addresses[0];
    const hostPart = address === undefined ? srv.target : address.includes(':') ? `[${address}]` : address;
    const path = (txt.path ?? '/').startsWith('/') ? (txt.path ?? '/') : `/${txt.path ?? ''}`;
    boxes.push({
      name: instanceLabel(announced),
      host: srv.target,
      addresses,
      port: srv.port,
      txt,
      url: `http://${hostPart}:${srv.port}${path === '/' ? '' : path.replace(/\/+$/, '')}`,
    });
  }
  return boxes.sort((a, b) => a.name.localeCompare(b.name));
}

/** The records an instance still lacks, as questions to ask. */
export function missingQuestions(gathered: Gathered): { name: string; type: 'SRV' | 'TXT' | 'A' }[] {
  const questions: { name: string; type: 'SRV' | 'TXT' | 'A' }[] = [];
  for (const instance of gathered.instances.keys()) {
    const srv = gathered.srv.get(instance);
    if (!srv) questions.push({ name: instance, type: 'SRV' });
    if (!gathered.txt.has(instance)) questions.push({ name: instance, type: 'TXT' });
    if (srv && !gathered.addresses.has(srv.target)) questions.push({ name: srv.target, type: 'A' });
  }
  return questions;
}

function instanceLabel(instance: string): string {
  const suffix = `.${SERVICE_TYPE}`;
  const label = instance.toLowerCase().endsWith(suffix) ? instance.slice(0, -suffix.length) : instance;
  // DNS-SD escapes dots and spaces in instance names as \. and \032.
  return label.replace(/\\(\d{3})/g, (_m, code: string) => String.fromCharCode(Number(code))).replace(/\\(.)/g, '$1');
}

export interface DiscoverOptions {
  readonly timeoutMs: number;
  /** The interface address to query on; all interfaces when absent. */
  readonly interfaceAddress?: string;
  /** The mDNS port; 5353 unless a test runs its own responder. */
  readonly port?: number;
}

/** Asks the LAN and collects answers for `timeoutMs`. Rejects only if the socket cannot be opened. */
export async function discover(options: DiscoverOptions): Promise<FoundBox[]> {
  const mdns = makeMdns({
    // Our own queries coming back are harmless; loopback lets a box on this machine answer.
    loopback: true,
    ...(options.interfaceAddress === undefined ? {} : { interface: options.interfaceAddress }),
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const gathered = emptyGathered();
  const asked = new Set<string>();
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => finish(), options.timeoutMs);
      mdns.on('error', (error: Error) => finish(error));
      mdns.on('response', (packet) => {
        gather(gathered, packet);
        const questions = missingQuestions(gathered).filter((question) => !asked.has(`${question.type} ${question.name}`));
        for (const question of questions) asked.add(`${question.type} ${question.name}`);
        if (questions.length > 0) mdns.query({ questions });
      });
      mdns.on('ready', () => {
        mdns.query({ questions: [{ name: SERVICE_TYPE, type: 'PTR' }] });
        // One repeat: a UDP packet can be lost, and responders may rate-limit an immediate answer.
        setTimeout(() => {
          if (!settled) mdns.query({ questions: [{ name: SERVICE_TYPE, type: 'PTR' }] });
        }, Math.min(1000, options.timeoutMs / 2)).unref();
      });
    });
  } finally {
    await new Promise<void>((resolve) => mdns.destroy(() => resolve()));
  }
  return collectServices(gathered);
}
