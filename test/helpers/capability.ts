import { it } from 'vitest';

/**
 * Tests that need something a laptop may lack (root, namespaces, chromium, promtool, a tmpfs
 * mount) skip themselves there, with the reason. CI must not hide a layer that way: with
 * SCOUT_REQUIRE_ALL=1 (set by .ci/run) a missing capability is a failing test instead of a skip.
 *
 * Call at the top level of a test file (during collection). Returns true when the tests that need
 * the capability should be skipped.
 */
export function missingCapability(name: string, reason: string | null): boolean {
  if (reason === null) return false;
  if (process.env.SCOUT_REQUIRE_ALL === '1') {
    it(`needs ${name} (SCOUT_REQUIRE_ALL=1)`, () => {
      throw new Error(`${name} is missing: ${reason}`);
    });
  } else {
    console.warn(`SKIPPING tests that need ${name}: ${reason}`);
  }
  return true;
}

/** For a capability found missing inside a running test (e.g. a mount that failed). */
export function requireAllOrSkip(skip: () => void, name: string, reason: string): void {
  if (process.env.SCOUT_REQUIRE_ALL === '1') throw new Error(`${name} is missing: ${reason}`);
  skip();
}
