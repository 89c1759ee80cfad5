import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';

/**
 * A PAN, CVV, PIN or key held so that it cannot be printed by accident (Hyperswitch's masking idea): string
 * conversion, template literals, JSON, `util.inspect`, console formatting and pino all see `[REDACTED]`. Reading
 * the value takes an explicit `expose()`, which is easy to find in review. The value lives in a private field,
 * so spreading, `Object.keys` and structured cloning do not copy it either.
 */
export class Secret<T extends string | Buffer = string | Buffer> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  expose(): T {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** The value of a secret or of a plain value, for functions that accept either. */
export function reveal<T extends string | Buffer>(value: T | Secret<T>): T {
  return value instanceof Secret ? value.expose() : value;
}
