import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { swappable } from '../../src/util/swappable.js';

class Counter {
  #count = 0;
  constructor(readonly name: string) {}
  increment(): number {
    this.#count += 1;
    return this.#count;
  }
  get count(): number {
    return this.#count;
  }
}

describe('swappable', () => {
  it('sends every call made through the stand-in to the current target, private fields included', () => {
    const slot = swappable(new Counter('first'));
    const held = slot.proxy;
    // A part that keeps a method rather than the object: the proxy hands out bound methods.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const { increment } = held;
    expect(held.increment()).toBe(1);
    expect(increment()).toBe(2);
    slot.replace(new Counter('second'));
    expect(held.name).toBe('second');
    expect(held.increment()).toBe(1);
    expect(held.count).toBe(1);
    expect(slot.current().name).toBe('second');
  });

  it('forwards native accessors of a better-sqlite3 connection to the new connection', () => {
    const first = new BetterSqlite3(':memory:');
    const slot = swappable(first);
    const db = slot.proxy;
    db.exec('CREATE TABLE t (v INTEGER)');
    expect(db.open).toBe(true);
    const second = new BetterSqlite3(':memory:');
    second.exec('CREATE TABLE u (v INTEGER)');
    slot.replace(second);
    first.close();
    expect(db.open).toBe(true);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([{ name: 'u' }]);
    second.close();
    expect(db.open).toBe(false);
  });
});
