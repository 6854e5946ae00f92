/**
 * The few assertions the integration tests use, without dependencies:
 * node:assert needs @types/node to type-check, which the checkout does not install, and it pins no
 * assertion library.
 *
 * @module
 */

/** A failed assertion. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  try {
    return JSON.stringify(v, (_k, x) => typeof x === "bigint" ? `${x}n` : x) ?? String(v);
  } catch {
    return String(v);
  }
}

function fail(what: string, message?: string): never {
  throw new AssertionError(message ? `${message}\n${what}` : what);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
  return deepEqual(ka, kb) &&
    ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The assertion functions. */
export interface Assert {
  /** `value` is truthy. */
  ok(value: unknown, message?: string): asserts value;
  /** `actual === expected` (Object.is). */
  equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
  /** `!Object.is(actual, expected)`. */
  notEqual(actual: unknown, expected: unknown, message?: string): void;
  /** Structural equality of arrays, plain objects and primitives. */
  deepEqual<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
  /** `re` matches `text`. */
  match(text: string, re: RegExp, message?: string): void;
  /** `re` does not match `text`. */
  doesNotMatch(text: string, re: RegExp, message?: string): void;
  /** Always fails. */
  fail(message: string): never;
}

/** Assertions, used as `assert.equal(actual, expected, message)`. */
export const assert: Assert = {
  ok(value, message) {
    if (!value) fail(`expected a truthy value, got ${show(value)}`, message);
  },
  equal(actual, expected, message) {
    if (!Object.is(actual, expected)) fail(`expected ${show(expected)}\n     got ${show(actual)}`, message);
  },
  notEqual(actual, expected, message) {
    if (Object.is(actual, expected)) fail(`expected something other than ${show(expected)}`, message);
  },
  deepEqual(actual, expected, message) {
    if (!deepEqual(actual, expected)) fail(`expected ${show(expected)}\n     got ${show(actual)}`, message);
  },
  match(text, re, message) {
    if (typeof text !== "string" || !re.test(text)) fail(`expected ${re} to match ${show(text)}`, message);
  },
  doesNotMatch(text, re, message) {
    if (typeof text !== "string" || re.test(text)) fail(`expected ${re} not to match ${show(text)}`, message);
  },
  fail(message) {
    return fail(message);
  },
};
