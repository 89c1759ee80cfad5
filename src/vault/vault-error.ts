import { LantauError } from '../platform/errors.js';

/**
 * A failure inside the vault (a ciphertext that does not open, a key that is missing or retired): the caller's
 * request was fine, so it is a 500 to the API user. Messages name keys by purpose and version, never by material,
 * and never carry the plaintext or ciphertext.
 */
export function vaultError(code: string, message: string): LantauError {
  return new LantauError(code, message, { type: 'api_error', status: 500 });
}
