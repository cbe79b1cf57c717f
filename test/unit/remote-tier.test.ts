import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../src/config.js';
import type { BreakerState } from '../../src/domain/transcript.js';
import { remoteHostOf } from '../../src/transcribe/remote-engine.js';
import { pickEngine, remoteWanted, type EngineChoice, type RemoteWhen } from '../../src/transcribe/remote-tier.js';

const base: EngineChoice = { when: 'always', levelAsksRemote: false, breaker: 'closed', reachable: true };

describe('which engine runs the next window', () => {
  it("'always': the remote takes every window while it is reachable and its breaker lets calls through", () => {
    expect(pickEngine(base)).toBe('remote');
    // Half-open: this window is the probe that decides whether the remote is back.
    expect(pickEngine({ ...base, breaker: 'halfOpen' })).toBe('remote');
    // Not probed yet: the first request says more than waiting for a probe would.
    expect(pickEngine({ ...base, reachable: null })).toBe('remote');
  });

  it('a remote known to be down, or behind an open breaker, is not tried: the local engine runs the window', () => {
    expect(pickEngine({ ...base, reachable: false })).toBe('local');
    expect(pickEngine({ ...base, breaker: 'open' })).toBe('local');
    expect(pickEngine({ ...base, breaker: 'open', reachable: null })).toBe('local');
  });

  it("'pressure': only while the degradation level asks for the remote tier", () => {
    const pressure: EngineChoice = { ...base, when: 'pressure' };
    expect(pickEngine(pressure)).toBe('local');
    expect(pickEngine({ ...pressure, levelAsksRemote: true })).toBe('remote');
    expect(pickEngine({ ...pressure, levelAsksRemote: true, reachable: false })).toBe('local');
    expect(pickEngine({ ...pressure, levelAsksRemote: true, breaker: 'open' })).toBe('local');
  });

  it('every combination: remote exactly when wanted, not open and not known down', () => {
    const whens: RemoteWhen[] = ['always', 'pressure'];
    const breakers: BreakerState[] = ['closed', 'halfOpen', 'open'];
    for (const when of whens)
      for (const levelAsksRemote of [false, true])
        for (const breaker of breakers)
          for (const reachable of [null, false, true]) {
            const choice = { when, levelAsksRemote, breaker, reachable };
            const expected = (when === 'always' || levelAsksRemote) && breaker !== 'open' && reachable !== false ? 'remote' : 'local';
            expect(pickEngine(choice), JSON.stringify(choice)).toBe(expected);
            expect(remoteWanted(choice)).toBe(when === 'always' || levelAsksRemote);
          }
  });
});

describe('transcription.remote in the configuration', () => {
  const problems = (remote: Record<string, unknown>): string[] => {
    try {
      validateConfig({ transcription: { remote } });
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  };

  it('is off by default; the level table asks for the remote from level 1 up', () => {
    const config = validateConfig({});
    expect(config.transcription.remote).toMatchObject({ url: null, model: null, when: 'pressure' });
    const levels = config.degradation.levels;
    expect([levels.normal.remote, levels.light.remote, levels.constrained.remote, levels.deferred.remote]).toEqual([false, true, true, true]);
  });

  it('a url with its model name is accepted with the defaults filled in', () => {
    const config = validateConfig({ transcription: { remote: { url: 'http://192.168.1.20:8080', model: 'ggml-base.en.bin', when: 'always' } } });
    expect(config.transcription.remote).toMatchObject({ url: 'http://192.168.1.20:8080', model: 'ggml-base.en.bin', when: 'always', timeoutMs: 60_000, breakerFailures: 2 });
    expect(remoteHostOf(config.transcription.remote.url ?? '')).toBe('192.168.1.20:8080');
  });

  it('refuses a url without its model name, a non-http url, credentials in the url and an unknown `when`', () => {
    expect(problems({ url: 'http://desk:8080' })).toEqual([expect.stringContaining('transcription.remote.model: required')]);
    expect(problems({ url: 'ftp://desk:8080', model: 'm' }).join('\n')).toContain('transcription.remote.url');
    expect(problems({ url: 'http://user:secret@desk:8080', model: 'm' })).toEqual([expect.stringContaining('no credentials')]);
    expect(problems({ url: 'http://desk:8080', model: 'm', when: 'sometimes' }).join('\n')).toContain('transcription.remote.when: must be one of "always", "pressure"');
    expect(problems({ url: 'http://desk:8080', model: 'm', timeoutMs: 10 }).join('\n')).toContain('transcription.remote.timeoutMs');
  });
});
