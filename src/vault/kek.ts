/**
 * The key-encryption key (KEK) wraps every data key; only wrapped data keys are stored. Three providers implement
 * one interface: a key file on local disk (development), a key in an environment variable (a secret manager
 * injects it), and an AES key inside a PKCS#11 HSM that never leaves it. Methods are async so a cloud KMS can
 * implement the interface later; the keyring calls them only when it loads keys, never per request.
 */
export type KekProvider = 'file' | 'env' | 'pkcs11';

export interface KeyEncryptionKey {
  readonly provider: KekProvider;
  /**
   * Names this KEK without revealing it; stored beside each data key it wraps, so a data key that will not
   * unwrap can be blamed on the wrong KEK rather than on corruption.
   */
  readonly id: string;
  /** Set when the provider is not fit for production card data: callers log it as a warning at start. */
  readonly warning: string | undefined;
  wrap(dataKey: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
  /** Where the key lives, for logs and `lantau` output. Never the material, a PIN or a secret's value. */
  describe(): string;
  close(): Promise<void>;
}

/** Data keys and software KEKs are AES-256 keys. */
export const KEY_BYTES = 32;

/**
 * The first byte of a wrapped data key says how it was wrapped, so a provider can change mechanism (or fall
 * back to another) without making keys it wrapped earlier unreadable.
 * - AES key wrap with padding (RFC 5649; PKCS#11 CKM_AES_KEY_WRAP_PAD): deterministic and integrity-checked.
 * - AES-256-GCM under the KEK: a 12-byte IV, the ciphertext and a 16-byte tag; the PKCS#11 fallback.
 */
export const WRAP_AES_KWP = 0x01;
export const WRAP_AES_GCM = 0x02;
/** Bound into every AES-GCM-wrapped data key, so nothing else encrypted under the KEK passes for a data key. */
export const WRAP_GCM_AAD = Buffer.from('lantau data key v1', 'utf8');

export function assertDataKey(dataKey: Buffer): void {
  if (dataKey.length !== KEY_BYTES) throw new RangeError(`a data key is ${KEY_BYTES} bytes`);
}
