import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Clock } from '../platform/clock.js';
import type { Database } from '../platform/db/database.js';
import { invalidRequest, LantauError } from '../platform/errors.js';
import type { IdGenerator } from '../platform/ids.js';
import {
  ciphertextHeader,
  ciphertextKey,
  open,
  seal,
  type AssociatedData,
  type KeyRef,
} from './ciphertext.js';
import {
  deactivateDataKey,
  findDataKey,
  insertDataKey,
  latestDataKey,
  loadDataKeys,
  lockDataKeys,
  markDataKeyRetired,
  type DataKeyInfo,
  type DataKeyRecord,
} from './data-keys.js';
import { findRowUnderKey, type EncryptedColumnRegistry } from './encrypted-columns.js';
import { KEY_BYTES, type KeyEncryptionKey } from './kek.js';
import {
  BLIND_INDEX_PURPOSE,
  isEncryptionPurpose,
  KEY_PURPOSES,
  type EncryptionPurpose,
  type KeyPurpose,
} from './purposes.js';
import { reveal, type Secret } from './secret.js';
import { vaultError } from './vault-error.js';

/** How often each process reloads the key table by default, to pick up another process's rotation. */
export const KEYRING_REFRESH_INTERVAL_MS = 60_000;
/**
 * A version may be retired only this long after it stopped being active: five refresh intervals, so every
 * process running its refresh loop has stopped encrypting under it (with room for clock skew and a slow reload).
 * Ciphertexts written under it before then are found by retirement's scan of the registered columns.
 */
export const ROTATION_GRACE_MS = 5 * KEYRING_REFRESH_INTERVAL_MS;

export interface KeyringOptions {
  readonly db: Database;
  readonly kek: KeyEncryptionKey;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /**
   * Reload the key table this often (default KEYRING_REFRESH_INTERVAL_MS); 0 turns the loop off, for tests and
   * short-lived commands. With the loop on, `encrypt` refuses once the last successful reload is older than
   * ROTATION_GRACE_MS, which is what makes retirement safe against a process that lost its database for a while.
   */
  readonly refreshIntervalMs?: number;
  /** Reports a failed background reload (the keyring keeps its keys and tries again). */
  readonly onRefreshError?: (error: unknown) => void;
  /** Milliseconds from a monotonic source; tests inject one to reach staleness without sleeping. */
  readonly monotonicMs?: () => number;
}

export interface RotationResult {
  readonly purpose: EncryptionPurpose;
  readonly keyId: string;
  readonly version: number;
  readonly previousVersion: number;
}

export interface RetirementResult {
  readonly purpose: EncryptionPurpose;
  readonly keyId: string;
  readonly version: number;
  readonly retiredAt: Date;
}

interface LoadedKey {
  readonly info: DataKeyInfo;
  /** Undefined for a retired version: it is known, so its ciphertexts get a clear error, but never unwrapped. */
  readonly key: KeyObject | undefined;
}

const DOMAIN = /^[a-z][a-z0-9_.]{0,63}$/;

function label(ref: { purpose: KeyPurpose; version: number }): string {
  return `${ref.purpose}:${ref.version}`;
}

function infoOf(record: DataKeyRecord): DataKeyInfo {
  const { wrappedKey: _wrapped, ...info } = record;
  return info;
}

/**
 * The data keys of every purpose, unwrapped once and kept in memory, and the operations on them: encryption and
 * decryption (AES-256-GCM, ciphertext.ts), the blind index (HMAC-SHA256), rotation and retirement.
 *
 * Other processes learn of a rotation two ways: `decrypt` reloads when a ciphertext names a version newer than
 * any it knows, and the refresh loop reloads every KEYRING_REFRESH_INTERVAL_MS so new encryptions move to the new
 * version. Reloading unwraps only versions not already in memory, so the KEK (an HSM's synchronous calls) is
 * touched once per version per process, never per request.
 */
export class Keyring {
  private createdOnOpen: readonly DataKeyInfo[] = [];
  private loaded = new Map<string, LoadedKey>();
  private active = new Map<KeyPurpose, LoadedKey>();
  private loadedAtMs = 0;
  private reloading: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly monotonicMs: () => number;

  private constructor(private readonly options: KeyringOptions) {
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
  }

  /** Loads every data key, creating version 1 of any purpose that has none (the first start on a database). */
  static async open(options: KeyringOptions): Promise<Keyring> {
    const keyring = new Keyring(options);
    await keyring.refresh();
    const missing = KEY_PURPOSES.filter((purpose) => !keyring.active.has(purpose));
    if (missing.length > 0) {
      keyring.createdOnOpen = await keyring.createFirstKeys(missing);
      await keyring.refresh();
    }
    const interval = options.refreshIntervalMs ?? KEYRING_REFRESH_INTERVAL_MS;
    if (interval > 0) {
      keyring.timer = setInterval(() => {
        keyring.refresh().catch((error: unknown) => options.onRefreshError?.(error));
      }, interval);
      // The loop must not keep a finished process alive.
      keyring.timer.unref();
    }
    return keyring;
  }

  /** Data keys this `open` created (a new database): callers audit them, e.g. as `vault.data_key.created`. */
  get created(): readonly DataKeyInfo[] {
    return this.createdOnOpen;
  }

  get kekId(): string {
    return this.options.kek.id;
  }

  /** Metadata of every version this process knows, never material. */
  keys(): DataKeyInfo[] {
    return [...this.loaded.values()].map((loaded) => loaded.info);
  }

  activeVersion(purpose: KeyPurpose): number {
    return this.activeKey(purpose).info.version;
  }

  /** The 6-byte prefix every new ciphertext of this purpose starts with (re-encryption compares against it). */
  activeHeader(purpose: EncryptionPurpose): Buffer {
    return ciphertextHeader({ purpose, version: this.activeVersion(purpose) });
  }

  /**
   * Encrypts under the purpose's active version. Synchronous and never touches the database, so it is safe
   * inside any transaction. `aad` binds the ciphertext to where it is stored (see `bindToRow`); the same bytes
   * must be given to decrypt it.
   */
  encrypt(purpose: EncryptionPurpose, plaintext: Buffer | Secret<Buffer>, aad?: AssociatedData): Buffer {
    if (!isEncryptionPurpose(purpose))
      throw new RangeError(`${String(purpose)} is not an encryption purpose`);
    this.assertFresh();
    const active = this.activeKey(purpose);
    if (active.key === undefined) throw new Error(`active ${purpose} key has no material`);
    return seal(active.key, { purpose, version: active.info.version }, reveal(plaintext), aad);
  }

  /** Decrypts with whichever version the ciphertext names, reloading once if it names one newer than known. */
  async decrypt(ciphertext: Uint8Array, aad?: AssociatedData): Promise<Buffer> {
    const ref = ciphertextKey(ciphertext);
    if (!this.loaded.has(label(ref)) && ref.version > this.highestVersion(ref.purpose)) await this.refresh();
    return this.decryptLoaded(ciphertext, aad);
  }

  /**
   * Decrypts with a version already in memory, without ever querying: for use inside a transaction on PGlite,
   * whose single connection would wait on the transaction for a reload. Throws `data_key_unknown` otherwise.
   */
  decryptLoaded(ciphertext: Uint8Array, aad?: AssociatedData): Buffer {
    const ref = ciphertextKey(ciphertext);
    return open(this.keyFor(ref), ciphertext, aad);
  }

  /**
   * The keyed blind index of a value: HMAC-SHA256 under the blind-index key, 32 bytes for a bytea column with a
   * unique or plain index. `domain` separates what is indexed (a PAN and an e-mail address that happened to be
   * the same string index differently). Callers normalise first (digits only for a PAN). The blind-index key has
   * one version and is never rotated with the encryption keys: a new one would change every index value, so
   * changing it is a re-indexing job, not a rotation.
   */
  blindIndex(value: Buffer | string | Secret, domain = 'pan'): Buffer {
    if (!DOMAIN.test(domain)) throw new RangeError('a blind-index domain is a short lower-case name');
    const key = this.activeKey(BLIND_INDEX_PURPOSE).key;
    if (key === undefined) throw new Error('blind-index key has no material');
    const bytes = reveal(value);
    return createHmac('sha256', key)
      .update(domain, 'utf8')
      .update(Buffer.of(0))
      .update(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes)
      .digest();
  }

  /** Reloads the key table now; concurrent callers share one reload. */
  async refresh(): Promise<void> {
    this.reloading ??= this.reload().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  /**
   * Makes a new version of the purpose active for new encryptions; the previous one becomes decrypt-only and
   * keeps opening what it encrypted. Re-encryption (`reencrypt`) then moves stored ciphertexts to the new version.
   */
  async rotate(purpose: EncryptionPurpose): Promise<RotationResult> {
    if (!isEncryptionPurpose(purpose)) {
      throw invalidRequest(
        'key_purpose_not_rotatable',
        `${String(purpose)} keys are not rotated: the blind-index key changes only by re-indexing every value`,
        'purpose',
      );
    }
    const { db, kek, clock, ids } = this.options;
    const result = await db.transaction(async (tx) => {
      await lockDataKeys(tx);
      const previous = await latestDataKey(tx, purpose);
      if (previous?.state !== 'active') throw new Error(`${purpose} has no active data key to rotate from`);
      const now = clock.now();
      await deactivateDataKey(tx, previous.id, now);
      const record = await this.newKeyRecord(purpose, previous.version + 1, now, ids, kek);
      await insertDataKey(tx, record);
      return { purpose, keyId: record.id, version: record.version, previousVersion: previous.version };
    });
    await this.refresh();
    return result;
  }

  /**
   * Retires a decrypt-only version: refused while it was active within ROTATION_GRACE_MS, and while any registered
   * column holds a ciphertext under it. The row and its wrapped key are kept, marked retired, and no process
   * unwraps it again: the version number is never reused, the key's life stays on record, and a backup restored
   * from before re-encryption can still be read by an operator who deliberately re-instates the row. Destroying
   * the wrapped key (crypto-shredding) is a separate, irreversible decision left to a later step.
   */
  async retire(
    registry: EncryptedColumnRegistry,
    purpose: EncryptionPurpose,
    version: number,
  ): Promise<RetirementResult> {
    const { db, clock } = this.options;
    const header = ciphertextHeader({ purpose, version });
    const result = await db.transaction(async (tx) => {
      await lockDataKeys(tx);
      const record = await findDataKey(tx, purpose, version);
      if (record === undefined) {
        throw new LantauError('resource_missing', `No such data key: ${purpose} version ${version}`, {
          status: 404,
          param: 'version',
        });
      }
      if (record.state === 'active') {
        throw invalidRequest(
          'data_key_active',
          `${purpose} version ${version} is the active key: rotate first, re-encrypt, then retire it`,
          'version',
        );
      }
      if (record.state === 'retired') {
        throw invalidRequest(
          'data_key_retired',
          `${purpose} version ${version} is already retired`,
          'version',
        );
      }
      const now = clock.now();
      const deactivatedAt = record.deactivatedAt ?? now;
      const retirableAt = new Date(deactivatedAt.getTime() + ROTATION_GRACE_MS);
      if (now < retirableAt) {
        throw invalidRequest(
          'data_key_recently_rotated',
          `${purpose} version ${version} was active until ${deactivatedAt.toISOString()}; other processes may still encrypt under it until ${retirableAt.toISOString()}: retire it after then`,
          'version',
        );
      }
      for (const column of registry.list()) {
        const rowId = await findRowUnderKey(tx, column, header);
        if (rowId !== undefined) {
          throw invalidRequest(
            'data_key_in_use',
            `${purpose} version ${version} still encrypts ${column.table}.${column.column} (row ${rowId} and perhaps others): re-encrypt before retiring it`,
            'version',
          );
        }
      }
      await markDataKeyRetired(tx, record.id, now);
      return { purpose, keyId: record.id, version, retiredAt: now };
    });
    await this.refresh();
    return result;
  }

  /** Stops the refresh loop. The keys stay usable until the object is dropped. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private activeKey(purpose: KeyPurpose): LoadedKey {
    const active = this.active.get(purpose);
    if (active === undefined) throw vaultError('data_key_missing', `no active ${purpose} data key is loaded`);
    return active;
  }

  private keyFor(ref: KeyRef): KeyObject {
    const loaded = this.loaded.get(label(ref));
    if (loaded === undefined) {
      throw vaultError('data_key_unknown', `no ${ref.purpose} data key version ${ref.version} exists`);
    }
    if (loaded.key === undefined) {
      throw vaultError(
        'data_key_retired',
        `${ref.purpose} data key version ${ref.version} is retired: this ciphertext was missed by re-encryption`,
      );
    }
    return loaded.key;
  }

  private highestVersion(purpose: KeyPurpose): number {
    let highest = 0;
    for (const loaded of this.loaded.values()) {
      if (loaded.info.purpose === purpose) highest = Math.max(highest, loaded.info.version);
    }
    return highest;
  }

  private assertFresh(): void {
    if (this.timer === undefined) return;
    const ageMs = this.monotonicMs() - this.loadedAtMs;
    if (ageMs > ROTATION_GRACE_MS) {
      throw vaultError(
        'keyring_stale',
        `the keyring last reloaded its keys ${Math.round(ageMs / 1000)} s ago; it refuses to encrypt under a key that may have been rotated out (is the database reachable?)`,
      );
    }
  }

  private async reload(): Promise<void> {
    const startedMs = this.monotonicMs();
    const records = await loadDataKeys(this.options.db);
    const loaded = new Map<string, LoadedKey>();
    const active = new Map<KeyPurpose, LoadedKey>();
    for (const record of records) {
      const info = infoOf(record);
      const known = this.loaded.get(label(record));
      let key: KeyObject | undefined;
      if (record.state !== 'retired') key = known?.key ?? (await this.unwrap(record));
      const entry = { info, key };
      loaded.set(label(record), entry);
      if (record.state === 'active') active.set(record.purpose, entry);
    }
    // Swapped in whole, so a request never sees half a reload.
    this.loaded = loaded;
    this.active = active;
    this.loadedAtMs = startedMs;
  }

  private async unwrap(record: DataKeyRecord): Promise<KeyObject> {
    const { kek } = this.options;
    if (record.kekId !== kek.id) {
      throw vaultError(
        'data_key_wrong_kek',
        `${record.purpose} data key version ${record.version} was wrapped by KEK ${record.kekId}, but the configured KEK is ${kek.id}`,
      );
    }
    const material = await kek.unwrap(record.wrappedKey);
    try {
      if (material.length !== KEY_BYTES)
        throw vaultError('data_key_unwrap_failed', 'a data key is not 32 bytes');
      return createSecretKey(material);
    } finally {
      material.fill(0);
    }
  }

  private async newKeyRecord(
    purpose: KeyPurpose,
    version: number,
    now: Date,
    ids: IdGenerator,
    kek: KeyEncryptionKey,
  ): Promise<Omit<DataKeyRecord, 'state' | 'deactivatedAt' | 'retiredAt'>> {
    const material = randomBytes(KEY_BYTES);
    try {
      return {
        id: ids('dkey'),
        purpose,
        version,
        kekId: kek.id,
        wrappedKey: await kek.wrap(material),
        createdAt: now,
      };
    } finally {
      material.fill(0);
    }
  }

  private async createFirstKeys(purposes: readonly KeyPurpose[]): Promise<DataKeyInfo[]> {
    const { db, kek, clock, ids } = this.options;
    return db.transaction(async (tx) => {
      await lockDataKeys(tx);
      const created: DataKeyInfo[] = [];
      for (const purpose of purposes) {
        // Another process may have created it while this one waited for the lock.
        const latest = await latestDataKey(tx, purpose);
        if (latest !== undefined) continue;
        const record = await this.newKeyRecord(purpose, 1, clock.now(), ids, kek);
        await insertDataKey(tx, record);
        created.push(infoOf({ ...record, state: 'active', deactivatedAt: null, retiredAt: null }));
      }
      return created;
    });
  }
}
