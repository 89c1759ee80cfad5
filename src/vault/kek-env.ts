import { KEY_BYTES, type KeyEncryptionKey } from './kek.js';
import { SoftwareKek } from './kek-software.js';
import { Secret } from './secret.js';

export type ParsedKey =
  { readonly ok: true; readonly key: Secret<Buffer> } | { readonly ok: false; readonly problem: string };

const HEX_64 = /^[0-9a-fA-F]{64}$/;
/** Standard or URL-safe base64 of 32 bytes: 43 characters and one optional `=`. */
const BASE64_32 = /^[A-Za-z0-9+/_-]{43}=?$/;

/**
 * Reads a 256-bit key written as 64 hex digits or as base64. Problems say what is wrong with the shape and never
 * repeat the value: it is a secret even when it is malformed (a typo away from the real key).
 */
export function parseKeyText(raw: string): ParsedKey {
  const text = raw.trim();
  let key: Buffer;
  if (HEX_64.test(text)) key = Buffer.from(text, 'hex');
  else if (BASE64_32.test(text)) key = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  else {
    return {
      ok: false,
      problem: `must be a ${KEY_BYTES}-byte key written as 64 hex digits or as base64 (44 characters); the value given is ${text.length} characters long and is not shown`,
    };
  }
  if (key.length !== KEY_BYTES) {
    return {
      ok: false,
      problem: `must decode to ${KEY_BYTES} bytes; the value given decodes to ${key.length}`,
    };
  }
  if (key.every((byte) => byte === key[0])) {
    key.fill(0);
    return { ok: false, problem: 'is one byte repeated, a placeholder rather than a random key' };
  }
  return { ok: true, key: new Secret(key) };
}

/** The `env` provider: the key comes from the environment (`LANTAU_KEK`), put there by a secret manager. */
export function envKek(key: Secret<Buffer>, variable = 'LANTAU_KEK'): KeyEncryptionKey {
  return new SoftwareKek('env', key.expose(), `environment variable ${variable}`, undefined);
}
