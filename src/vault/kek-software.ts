import { createCipheriv, createDecipheriv, createHash, createSecretKey, type KeyObject } from 'node:crypto';
import { assertDataKey, KEY_BYTES, WRAP_AES_KWP, type KekProvider, type KeyEncryptionKey } from './kek.js';
import { vaultError } from './vault-error.js';

/** RFC 5649's alternative initial value, which Node's `id-aes256-wrap-pad` cipher requires as its IV. */
const KWP_IV = Buffer.from('a65959a6', 'hex');

/**
 * Names a software KEK by a hash of it: the same key read from a file or from the environment has the same id,
 * so a key can move from one to the other without re-wrapping. Eight bytes of SHA-256 over a 256-bit random key
 * reveal nothing about it.
 */
export function softwareKekId(key: Buffer): string {
  const digest = createHash('sha256').update('lantau kek id\0').update(key).digest();
  return `aes256:${digest.subarray(0, 8).toString('hex')}`;
}

/** A KEK whose material is in this process's memory: the `file` and `env` providers. */
export class SoftwareKek implements KeyEncryptionKey {
  readonly id: string;
  private readonly key: KeyObject;

  constructor(
    readonly provider: Extract<KekProvider, 'file' | 'env'>,
    material: Buffer,
    private readonly location: string,
    readonly warning: string | undefined,
  ) {
    if (material.length !== KEY_BYTES) throw new RangeError(`a key-encryption key is ${KEY_BYTES} bytes`);
    this.id = softwareKekId(material);
    // A KeyObject prints as its type and size, never its bytes.
    this.key = createSecretKey(Buffer.from(material));
  }

  async wrap(dataKey: Buffer): Promise<Buffer> {
    assertDataKey(dataKey);
    const cipher = createCipheriv('id-aes256-wrap-pad', this.key, KWP_IV);
    return Buffer.concat([Buffer.of(WRAP_AES_KWP), cipher.update(dataKey), cipher.final()]);
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    if (wrapped[0] !== WRAP_AES_KWP) {
      throw vaultError(
        'data_key_unwrap_failed',
        `KEK ${this.id} cannot unwrap this data key: it was wrapped another way (by an HSM's AES-GCM fallback?)`,
      );
    }
    const decipher = createDecipheriv('id-aes256-wrap-pad', this.key, KWP_IV);
    let dataKey: Buffer;
    try {
      dataKey = Buffer.concat([decipher.update(wrapped.subarray(1)), decipher.final()]);
    } catch {
      throw vaultError(
        'data_key_unwrap_failed',
        `KEK ${this.id} could not unwrap a data key: it was wrapped by another key-encryption key, or altered`,
      );
    }
    if (dataKey.length !== KEY_BYTES) {
      throw vaultError('data_key_unwrap_failed', `an unwrapped data key is not ${KEY_BYTES} bytes`);
    }
    return dataKey;
  }

  describe(): string {
    return `${this.provider} KEK ${this.id} (${this.location})`;
  }

  async close(): Promise<void> {
    // Nothing to release: the KeyObject goes with the process.
  }
}
