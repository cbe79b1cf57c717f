/**
 * A stand-in object whose every property read goes to the current target, which can be replaced
 * later. Parts keep the stand-in they were given at composition time and see the replacement at
 * their next call: the way a database connection opened read-only at start can become a real
 * one without rebuilding every part that holds a repository over it.
 *
 * Methods are bound to the current target, so a class's private fields and native accessors
 * (better-sqlite3's `open`, `readonly`) work as on the target itself. A method taken off the
 * stand-in stays bound to the target of that moment: hold the stand-in, not its methods.
 */
export interface Swappable<T extends object> {
  readonly proxy: T;
  current(): T;
  replace(next: T): void;
}

export function swappable<T extends object>(initial: T): Swappable<T> {
  let target = initial;
  const proxy = new Proxy(initial, {
    get(_shell, property) {
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    set(_shell, property, value) {
      return Reflect.set(target, property, value, target);
    },
    has(_shell, property) {
      return Reflect.has(target, property);
    },
  });
  return {
    proxy,
    current: () => target,
    replace: (next) => {
      target = next;
    },
  };
}
