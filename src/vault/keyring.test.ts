import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { ciphertextKey, CIPHERTEXT_OVERHEAD_BYTES } from './ciphertext.js';
import { envKek } from './kek-env.js';
import { openFileKek } from './kek-file.js';
import type { KeyEncryptionKey } from './kek.js';
import { Keyring, KEYRING_REFRESH_INTERVAL_MS, ROTATION_GRACE_MS } from './keyring.js';
import { KEY_PURPOSES } from './purposes.js';
import { Secret } from './secret.js';

const PAN = '4111111111111111';

describe(`keyring (${process.env.DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  let db: TestDatabase;
  let dataDir: string;
  let kek: KeyEncryptionKey;
  const clock = new ManualClock('2026-05-01T00:00:00.000Z');
  const ids = createIdGenerator(clock);
  const openKeyring = (options: Partial<Parameters<typeof Keyring.open>[0]> = {}) =>
    Keyring.open({ db, kek, clock, ids, refreshIntervalMs: 0, ...options });

  beforeAll(async () => {
    db = await openTestDatabase();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'lantau-keyring-'));
    kek = openFileKek(dataDir);
  });
  afterAll(async () => {
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates version 1 of every purpose on first open, wrapped, and none on the next', async () => {
    const keyring = await openKeyring();
    expect(keyring.created.map((key) => [key.purpose, key.version, key.state])).toEqual(
      KEY_PURPOSES.map((purpose) => [purpose, 1, 'active']),
    );
    const rows = await db.query<{ purpose: string; kek_id: string; wrapped_key: Uint8Array }>(
      'SELECT purpose, kek_id, wrapped_key FROM vault_data_keys ORDER BY purpose',
    );
    expect(rows.rows).toHaveLength(KEY_PURPOSES.length);
    for (const row of rows.rows) {
      expect(row.kek_id).toBe(kek.id);
      expect(row.wrapped_key.length).toBe(41);
    }
    const again = await openKeyring();
    expect(again.created).toEqual([]);
    expect(
      again
        .keys()
        .map((key) => key.id)
        .sort(),
    ).toEqual(
      keyring
        .keys()
        .map((key) => key.id)
        .sort(),
    );
  });

  it('creates the keys once when several processes start together', async () => {
    const fresh = await openTestDatabase();
    try {
      const opened = await Promise.all(
        [1, 2, 3].map(() => Keyring.open({ db: fresh, kek, clock, ids, refreshIntervalMs: 0 })),
      );
      expect(opened.flatMap((keyring) => keyring.created)).toHaveLength(KEY_PURPOSES.length);
      const count = await fresh.query<{ n: number }>('SELECT count(*)::int AS n FROM vault_data_keys');
      expect(count.rows[0]?.n).toBe(KEY_PURPOSES.length);
    } finally {
      await fresh.close();
    }
  });

  it('encrypts with AES-256-GCM into a self-describing ciphertext, and decrypts it', async () => {
    const keyring = await openKeyring();
    const ciphertext = keyring.encrypt('pan', Buffer.from(PAN), 'card_1');
    expect(ciphertext.length).toBe(PAN.length + CIPHERTEXT_OVERHEAD_BYTES);
    expect(ciphertextKey(ciphertext)).toEqual({ purpose: 'pan', version: keyring.activeVersion('pan') });
    expect(ciphertext.includes(Buffer.from(PAN))).toBe(false);
    expect((await keyring.decrypt(ciphertext, 'card_1')).toString()).toBe(PAN);
    // A fresh IV every time: the same PAN never gives the same ciphertext.
    expect(keyring.encrypt('pan', new Secret(Buffer.from(PAN)), 'card_1').equals(ciphertext)).toBe(false);
    expect(keyring.decryptLoaded(keyring.encrypt('pii', Buffer.from('Chan Tai Man'))).toString()).toBe(
      'Chan Tai Man',
    );
  });

  it('refuses a ciphertext moved to another row, altered, or under another purpose', async () => {
    const keyring = await openKeyring();
    const ciphertext = keyring.encrypt('pan', Buffer.from(PAN), 'card_1');
    await expect(keyring.decrypt(ciphertext, 'card_2')).rejects.toThrow(/failed authentication/);
    await expect(keyring.decrypt(ciphertext)).rejects.toThrow(/failed authentication/);
    const altered = Buffer.from(ciphertext);
    altered[20] = (altered[20] ?? 0) ^ 1;
    await expect(keyring.decrypt(altered, 'card_1')).rejects.toThrow(/failed authentication/);
    const relabelled = Buffer.from(ciphertext);
    relabelled[1] = 2; // claims to be personal data
    await expect(keyring.decrypt(relabelled, 'card_1')).rejects.toThrow(
      /pii ciphertext .* failed authentication/,
    );
    await expect(keyring.decrypt(Buffer.from([1, 1, 0, 0]))).rejects.toThrow(/at least 34 bytes/);
    const messages = await Promise.all([
      keyring.decrypt(altered, 'card_1').catch((error: unknown) => String(error)),
    ]);
    expect(messages.join()).not.toContain(PAN);
  });

  it('computes a keyed blind index that finds a row through an indexed bytea column', async () => {
    const keyring = await openKeyring();
    const index = keyring.blindIndex(PAN);
    expect(index.length).toBe(32);
    expect(keyring.blindIndex(new Secret(PAN)).equals(index)).toBe(true);
    expect(keyring.blindIndex(Buffer.from(PAN)).equals(index)).toBe(true);
    expect(keyring.blindIndex(PAN, 'email').equals(index)).toBe(false);
    expect(keyring.blindIndex('4111111111111112').equals(index)).toBe(false);
    // Another process on the same database computes the same index: the key is shared, not per process.
    expect((await openKeyring()).blindIndex(PAN).equals(index)).toBe(true);

    await db.exec(`CREATE TABLE t_cards (id text COLLATE "C" PRIMARY KEY, pan_index bytea NOT NULL)`);
    await db.exec('CREATE INDEX t_cards_pan_index ON t_cards (pan_index)');
    await db.query('INSERT INTO t_cards VALUES ($1, $2), ($3, $4)', [
      'card_a',
      index,
      'card_b',
      keyring.blindIndex('4000056655665556'),
    ]);
    const found = await db.query<{ id: string }>('SELECT id FROM t_cards WHERE pan_index = $1', [
      keyring.blindIndex(PAN),
    ]);
    expect(found.rows.map((row) => row.id)).toEqual(['card_a']);
  });

  it('rotates: new encryptions use the new version and old ciphertexts still decrypt', async () => {
    const keyring = await openKeyring();
    const before = keyring.encrypt('pan', Buffer.from(PAN), 'r');
    const previous = keyring.activeVersion('pan');
    clock.advance(1_000);
    const rotation = await keyring.rotate('pan');
    expect(rotation).toMatchObject({ purpose: 'pan', version: previous + 1, previousVersion: previous });
    const after = keyring.encrypt('pan', Buffer.from(PAN), 'r');
    expect(ciphertextKey(after).version).toBe(previous + 1);
    expect((await keyring.decrypt(before, 'r')).toString()).toBe(PAN);
    expect((await keyring.decrypt(after, 'r')).toString()).toBe(PAN);
    const states = keyring
      .keys()
      .filter((key) => key.purpose === 'pan')
      .map((key) => [key.version, key.state]);
    expect(states).toEqual([
      [previous, 'decrypt_only'],
      [previous + 1, 'active'],
    ]);
    // Other purposes are untouched.
    expect(keyring.activeVersion('pii')).toBe(1);
  });

  it('refuses to rotate the blind-index key', async () => {
    const keyring = await openKeyring();
    // @ts-expect-error the type already refuses it; the check at run time is for JavaScript callers
    await expect(keyring.rotate('blind_index')).rejects.toThrow(/re-indexing/);
  });

  it('lets another process pick up a rotation: on meeting a newer version, on refresh(), and by its loop', async () => {
    const elsewhere = await openKeyring();
    const here = await openKeyring();
    const rotated = await elsewhere.rotate('pii');
    const written = elsewhere.encrypt('pii', Buffer.from('Chan Tai Man'), 'person_1');
    // `here` has not seen the new version: decrypting a ciphertext that names it reloads.
    expect(here.activeVersion('pii')).toBe(rotated.previousVersion);
    expect(() => here.decryptLoaded(written, 'person_1')).toThrow(/no pii data key version/);
    expect((await here.decrypt(written, 'person_1')).toString()).toBe('Chan Tai Man');
    expect(here.activeVersion('pii')).toBe(rotated.version);

    await elsewhere.rotate('credential');
    const stale = ciphertextKey(here.encrypt('credential', Buffer.from('whsec'))).version;
    await here.refresh();
    expect(ciphertextKey(here.encrypt('credential', Buffer.from('whsec'))).version).toBe(stale + 1);
  });

  it('refuses to encrypt once its refresh loop has not reloaded for the rotation grace period', async () => {
    let monotonic = 0;
    const errors: unknown[] = [];
    const keyring = await openKeyring({
      refreshIntervalMs: KEYRING_REFRESH_INTERVAL_MS,
      monotonicMs: () => monotonic,
      onRefreshError: (error) => errors.push(error),
    });
    try {
      monotonic += ROTATION_GRACE_MS - 1;
      expect(() => keyring.encrypt('pan', Buffer.from(PAN))).not.toThrow();
      monotonic += 2;
      expect(() => keyring.encrypt('pan', Buffer.from(PAN))).toThrow(/last reloaded its keys 300 s ago/);
      await keyring.refresh();
      expect(() => keyring.encrypt('pan', Buffer.from(PAN))).not.toThrow();
      expect(errors).toEqual([]);
    } finally {
      keyring.close();
    }
  });

  it('names the KEK a data key needs when another is configured', async () => {
    const other = envKek(new Secret(randomBytes(32)));
    await expect(Keyring.open({ db, kek: other, clock, ids, refreshIntervalMs: 0 })).rejects.toThrow(
      new RegExp(`wrapped by KEK ${kek.id}, but the configured KEK is ${other.id}`),
    );
  });
});
