import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, validateConfig } from '../../src/config.js';

const servicePath = join(PROJECT_ROOT, 'provisioning/avahi/scout.service');

describe('the avahi service file', () => {
  const xml = readFileSync(servicePath, 'utf8');

  it('announces the page as _http._tcp with path=/ on the default HTTP port', () => {
    expect(xml).toMatch(/<type>_http\._tcp<\/type>/);
    expect(xml).toMatch(/<txt-record>path=\/<\/txt-record>/);
    const port = Number(/<port>(\d+)<\/port>/.exec(xml)?.[1]);
    expect(port).toBe(validateConfig({ dataDir: '/tmp' }).http.port);
  });

  it('is installed by the Pi provisioning script', () => {
    const script = readFileSync(join(PROJECT_ROOT, 'provisioning/install-pi.sh'), 'utf8');
    expect(script).toContain('provisioning/avahi/scout.service" /etc/avahi/services/scout.service');
    expect(script).toMatch(/avahi-daemon/);
  });
});
