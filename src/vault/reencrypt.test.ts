import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { ciphertextKey } from './ciphertext.js';
import { createCvkPair, loadCvkPair } from './cvk-pairs.js';
import { bindToRow, EncryptedColumnRegistry, type EncryptedColumn } from './encrypted-columns.js';
import { openFileKek } from './kek-file.js';
import { Keyring, ROTATION_GRACE_MS } from './keyring.js';
import { reencrypt } from './reencrypt.js';

const ROWS = 23;
const panOf = (index: number): string => `41111111111${String(index).padStart(5, '0')}`;

describe(`re-encryption and retirement (${process.env.DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  let db: TestDatabase;
  let dataDir: string;
  let keyring: Keyring;
  /** A second process's keyring that never reloads: it keeps encrypting under the version it loaded. */
  let staleKeyring: Keyring;
  let registry: EncryptedColumnRegistry;
  const clock = new ManualClock('2026-05-01T00:00:00.000Z');
  const ids = createIdGenerator(clock);
  const cards: EncryptedColumn = {
    table: 't_vault_cards',
    idColumn: 'id',
    column: 'pan_encrypted',
    purpose: 'pan',
    aad: bindToRow('t_vault_cards', 'pan_encrypted'),
  };

  async function versionsInTable(): Promise<Record<number, number>> {
    const rows = await db.query<{ pan_encrypted: Uint8Array | null }>(
      'SELECT pan_encrypted FROM t_vault_cards',
    );
    const counts: Record<number, number> = {};
    for (const row of rows.rows) {
      if (row.pan_encrypted === null) continue;
      const { version } = ciphertextKey(row.pan_encrypted);
      counts[version] = (counts[version] ?? 0) + 1;
    }
    return counts;
  }

  beforeAll(async () => {
    db = await openTestDatabase();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'lantau-reencrypt-'));
    keyring = await Keyring.open({ db, kek: openFileKek(dataDir), clock, ids, refreshIntervalMs: 0 });
    staleKeyring = await Keyring.open({ db, kek: openFileKek(dataDir), clock, ids, refreshIntervalMs: 0 });
    registry = new EncryptedColumnRegistry();
    registry.register(cards);
    await db.exec(
      `CREATE TABLE t_vault_cards (id text COLLATE "C" PRIMARY KEY, program_id text COLLATE "C" NOT NULL, pan_encrypted bytea)`,
    );
    await db.transaction(async (tx) => {
      for (let index = 0; index < ROWS; index += 1) {
        const id = ids('card');
        const value = index === 7 ? null : keyring.encrypt('pan', Buffer.from(panOf(index)), cards.aad?.(id));
        await tx.query('INSERT INTO t_vault_cards VALUES ($1, $2, $3)', [id, 'prog_1', value]);
      }
      await createCvkPair(tx, keyring, 'prog_1', ids, clock);
    });
  });
  afterAll(async () => {
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses a column registered twice or named with anything but a plain identifier', () => {
    expect(() => registry.register(cards)).toThrow(/already registered/);
    expect(() => registry.register({ ...cards, table: 'cards; DROP TABLE x' })).toThrow(
      /plain lower-case SQL identifier/,
    );
    expect(new EncryptedColumnRegistry().list().map((column) => column.table)).toEqual(['vault_cvk_pairs']);
  });

  it('moves every ciphertext to the active version in batches, and is a no-op when run again', async () => {
    expect(await versionsInTable()).toEqual({ 1: ROWS - 1 });
    clock.advance(1_000);
    await keyring.rotate('pan');
    const results = await reencrypt(db, keyring, registry, { batchSize: 5 });
    expect(results).toEqual([
      {
        table: 'vault_cvk_pairs',
        column: 'cvk_encrypted',
        purpose: 'cvk',
        version: 1,
        rewritten: 0,
        batches: 0,
      },
      {
        table: 't_vault_cards',
        column: 'pan_encrypted',
        purpose: 'pan',
        version: 2,
        rewritten: ROWS - 1,
        batches: 5,
      },
    ]);
    expect(await versionsInTable()).toEqual({ 2: ROWS - 1 });
    const rows = await db.query<{ id: string; pan_encrypted: Uint8Array | null }>(
      'SELECT id, pan_encrypted FROM t_vault_cards ORDER BY id',
    );
    const pans = await Promise.all(
      rows.rows.map(async (row) =>
        row.pan_encrypted === null
          ? null
          : (await keyring.decrypt(row.pan_encrypted, cards.aad?.(row.id))).toString(),
      ),
    );
    expect(pans).toEqual(Array.from({ length: ROWS }, (_, index) => (index === 7 ? null : panOf(index))));
    expect((await reencrypt(db, keyring, registry, { batchSize: 5 }))[1]).toMatchObject({
      rewritten: 0,
      batches: 0,
    });
  });

  it('retires a version only after the grace period and once no registered column uses it', async () => {
    const underVersion1 = staleKeyring.encrypt('pan', Buffer.from(panOf(99)), 'kept in memory');
    await expect(keyring.retire(registry, 'pan', 2)).rejects.toThrow(/is the active key/);
    await expect(keyring.retire(registry, 'pan', 9)).rejects.toThrow(/No such data key: pan version 9/);
    await expect(keyring.retire(registry, 'pan', 1)).rejects.toThrow(
      /other processes may still encrypt under it/,
    );
    clock.advance(ROTATION_GRACE_MS);

    // A process that had not yet seen the rotation wrote under version 1 after re-encryption passed.
    const stragglerId = ids('card');
    await db.query('INSERT INTO t_vault_cards VALUES ($1, $2, $3)', [
      stragglerId,
      'prog_1',
      staleKeyring.encrypt('pan', Buffer.from(panOf(50)), cards.aad?.(stragglerId)),
    ]);
    await expect(keyring.retire(registry, 'pan', 1)).rejects.toThrow(
      new RegExp(`still encrypts t_vault_cards.pan_encrypted \\(row ${stragglerId} and perhaps others\\)`),
    );

    expect((await reencrypt(db, keyring, registry, { purposes: ['pan'] }))[0]).toMatchObject({
      rewritten: 1,
    });
    const retired = await keyring.retire(registry, 'pan', 1);
    expect(retired).toMatchObject({ purpose: 'pan', version: 1, retiredAt: clock.now() });
    await expect(keyring.retire(registry, 'pan', 1)).rejects.toThrow(/already retired/);

    // The row stays, wrapped key and all, but no keyring unwraps it any more.
    const row = await db.query<{ state: string; wrapped_key: Uint8Array | null; retired_at: Date }>(
      `SELECT state, wrapped_key, retired_at FROM vault_data_keys WHERE purpose = 'pan' AND version = 1`,
    );
    expect(row.rows[0]).toMatchObject({ state: 'retired', retired_at: clock.now() });
    expect(row.rows[0]?.wrapped_key?.length).toBe(41);
    await expect(keyring.decrypt(underVersion1, 'kept in memory')).rejects.toThrow(
      /pan data key version 1 is retired/,
    );
    const reopened = await Keyring.open({ db, kek: openFileKek(dataDir), clock, ids, refreshIntervalMs: 0 });
    expect(reopened.keys().find((key) => key.purpose === 'pan' && key.version === 1)?.state).toBe('retired');
    expect((await reencrypt(db, reopened, registry))[1]).toMatchObject({ rewritten: 0 });
  });

  it("treats the vault's own CVK pairs like any registered column", async () => {
    const before = await loadCvkPair(db, keyring, 'prog_1');
    await keyring.rotate('cvk');
    expect((await reencrypt(db, keyring, registry, { purposes: ['cvk'] }))[0]).toMatchObject({
      table: 'vault_cvk_pairs',
      version: 2,
      rewritten: 1,
    });
    clock.advance(ROTATION_GRACE_MS);
    await keyring.retire(registry, 'cvk', 1);
    const after = await loadCvkPair(db, keyring, 'prog_1');
    expect(after?.cvkA.expose().equals(before?.cvkA.expose() ?? Buffer.alloc(0))).toBe(true);
    expect(after?.checkValue).toBe(before?.checkValue);
  });
});
