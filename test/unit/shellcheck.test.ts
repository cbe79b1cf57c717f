import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config.js';
import { missingCapability } from '../helpers/capability.js';

const run = promisify(execFile);

async function shellcheckVersion(): Promise<string | null> {
  try {
    const { stdout } = await run('shellcheck', ['--version']);
    return /version: (\S+)/.exec(stdout)?.[1] ?? 'unknown';
  } catch {
    return null;
  }
}

const version = await shellcheckVersion();
const skip = missingCapability('shellcheck', version === null ? 'shellcheck not installed (Debian package shellcheck)' : null);

async function shellScripts(dir: string): Promise<string[]> {
  return (await readdir(join(PROJECT_ROOT, dir))).filter((name) => name.endsWith('.sh')).map((name) => join(dir, name));
}

describe.skipIf(skip)('shell scripts', () => {
  it('provisioning/*.sh, scripts/*.sh and scripts/pi/*.sh pass shellcheck with no finding at any level', async () => {
    const scripts = [...(await shellScripts('provisioning')), ...(await shellScripts('scripts')), ...(await shellScripts('scripts/pi'))];
    expect(scripts).toEqual(expect.arrayContaining(['provisioning/install-pi.sh', 'provisioning/uninstall-pi.sh', 'scripts/build-whisper.sh', 'scripts/pi/arm64-root.sh']));
    // execFile rejects on a non-zero exit; the findings are in stdout then.
    const result = await run('shellcheck', ['--severity=style', ...scripts], { cwd: PROJECT_ROOT }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code?: number; stdout?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '' }),
    );
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
  });
});
