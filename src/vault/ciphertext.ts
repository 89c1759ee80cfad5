import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { purposeCode, purposeFromCode, type EncryptionPurpose } from './purposes.js';
import { vaultError } from './vault-error.js';

/**
 * A ciphertext is self-describing bytes, stored as bytea:
 *
 *   offset 0   1 byte   format, 0x01
 *   offset 1   1 byte   purpose code (purposes.ts)
 *   offset 2   4 bytes  key version, unsigned big-endian
 *   offset 6  12 bytes  IV, random for every encryption
 *   offset 18  n bytes  AES-256-GCM ciphertext
 *   last      16 bytes  GCM tag
 *
 * The 6-byte header is authenticated with the caller's associated data, so neither can be swapped unnoticed, and
 * because it is a fixed prefix, SQL can find ciphertexts under a given key version with `substring(col, 1, 6)`
 * (re-encryption and retirement do). Binary rather than text: a PAN ciphertext is 50 bytes instead of about 70.
 *
 * A random 96-bit IV is safe for about 2^32 encryptions under one key (NIST SP 800-38D); rotation comes long before.
 */
export const CIPHERTEXT_FORMAT = 0x01;
export const HEADER_BYTES = 6;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const CIPHERTEXT_OVERHEAD_BYTES = HEADER_BYTES + IV_BYTES + TAG_BYTES;
export const KEY_VERSION_MAX = 0xffff_ffff;

export interface KeyRef {
  readonly purpose: EncryptionPurpose;
  readonly version: number;
}

/** Associated data: bytes, or a string taken as UTF-8. Callers bind a ciphertext to its row with it. */
export type AssociatedData = Buffer | string;

export function ciphertextHeader(ref: KeyRef): Buffer {
  if (!Number.isInteger(ref.version) || ref.version < 1 || ref.version > KEY_VERSION_MAX) {
    throw new RangeError('a key version is an integer from 1 to 2^32 - 1');
  }
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(CIPHERTEXT_FORMAT, 0);
  header.writeUInt8(purposeCode(ref.purpose), 1);
  header.writeUInt32BE(ref.version, 2);
  return header;
}

/** The key a ciphertext names, read without decrypting it. */
export function ciphertextKey(ciphertext: Uint8Array): KeyRef {
  if (ciphertext.length < CIPHERTEXT_OVERHEAD_BYTES) {
    throw vaultError('ciphertext_malformed', `a ciphertext is at least ${CIPHERTEXT_OVERHEAD_BYTES} bytes`);
  }
  const bytes = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
  const format = bytes.readUInt8(0);
  if (format !== CIPHERTEXT_FORMAT) {
    throw vaultError('ciphertext_malformed', `unknown ciphertext format ${format}`);
  }
  const purpose = purposeFromCode(bytes.readUInt8(1));
  if (purpose === undefined)
    throw vaultError('ciphertext_malformed', 'the ciphertext names no known purpose');
  const version = bytes.readUInt32BE(2);
  if (version < 1) throw vaultError('ciphertext_malformed', 'the ciphertext names key version 0');
  return { purpose, version };
}

function additionalData(header: Buffer, aad: AssociatedData | undefined): Buffer {
  if (aad === undefined) return header;
  return Buffer.concat([header, typeof aad === 'string' ? Buffer.from(aad, 'utf8') : aad]);
}

export function seal(key: KeyObject, ref: KeyRef, plaintext: Buffer, aad?: AssociatedData): Buffer {
  const header = ciphertextHeader(ref);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(header, aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, body, cipher.getAuthTag()]);
}

/** Decrypts with the key the ciphertext names (the caller looked it up with `ciphertextKey`). */
export function open(key: KeyObject, ciphertext: Uint8Array, aad?: AssociatedData): Buffer {
  const ref = ciphertextKey(ciphertext);
  const bytes = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
  const header = bytes.subarray(0, HEADER_BYTES);
  const iv = bytes.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
  const body = bytes.subarray(HEADER_BYTES + IV_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(additionalData(header, aad));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    // OpenSSL says only "unable to authenticate data"; say what it means here.
    throw vaultError(
      'ciphertext_invalid',
      `a ${ref.purpose} ciphertext (key version ${ref.version}) failed authentication: it was altered, or the associated data differs from when it was written`,
    );
  }
}
