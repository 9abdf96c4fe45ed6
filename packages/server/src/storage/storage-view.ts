/**
 * A view of a Storage with some methods replaced (the public view, the
 * opt-out announcement, the admin recording): every other member is the
 * storage's own, bound to it, so views stack.
 */
import type { Storage } from './storage.js';

export function storageView(storage: Storage, overrides: Partial<Storage>): Storage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof Storage];
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
