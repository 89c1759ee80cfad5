import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { createCvkPair, loadCvkPair } from './cvk-pairs.js';
import { computeCvv, cvkCheckValue, parseCvkPair } from './cvv.js';
import { openFileKek } from './kek-file.js';
import { Keyring } from './keyring.js';

const SANDBOX_CVK = '0123456789ABCDEFFEDCBA9876543210';

describe(`CVK pairs (${process.env.DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  let db: TestDatabase;
  let dataDir: string;
  let keyring: Keyring;
  const clock = new ManualClock('2026-05-01T00:00:00.000Z');
  const ids = createIdGenerator(clock);

  beforeAll(async () => {
    db = await openTestDatabase();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'lantau-cvk-'));
    keyring = await Keyring.open({ db, kek: openFileKek(dataDir), clock, ids, refreshIntervalMs: 0 });
  });
  afterAll(async () => {
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores a given pair encrypted and loads it back to compute the same CVV', async () => {
    const given = parseCvkPair(SANDBOX_CVK);
    const info = await db.transaction((tx) => createCvkPair(tx, keyring, 'prog_sandbox', ids, clock, given));
    expect(info).toEqual({
      id: expect.stringMatching(/^cvk_/) as unknown,
      programId: 'prog_sandbox',
      checkValue: '08D7B4',
      createdAt: clock.now(),
    });
    const loaded = await loadCvkPair(db, keyring, 'prog_sandbox');
    expect(loaded?.id).toBe(info.id);
    if (loaded === undefined) throw new Error('expected a pair');
    expect(computeCvv({ pan: '4123456789012345', expiryYYMM: '8701', serviceCode: '101', ...loaded })).toBe(
      '561',
    );
    expect(JSON.stringify(loaded)).not.toMatch(/0123456789ABCDEF|0123456789abcdef/);
  });

  it('generates a random pair when none is given, and keeps one pair per programme', async () => {
    const info = await db.transaction((tx) => createCvkPair(tx, keyring, 'prog_2', ids, clock));
    const loaded = await loadCvkPair(db, keyring, 'prog_2');
    if (loaded === undefined) throw new Error('expected a pair');
    expect(cvkCheckValue(loaded)).toBe(info.checkValue);
    await expect(db.transaction((tx) => createCvkPair(tx, keyring, 'prog_2', ids, clock))).rejects.toThrow(
      /already has a CVK pair/,
    );
    expect(await loadCvkPair(db, keyring, 'prog_none')).toBeUndefined();
  });

  it('binds each stored pair to its row', async () => {
    // Copying one programme's ciphertext into another's row does not give that programme the pair.
    await db.query(
      `UPDATE vault_cvk_pairs SET cvk_encrypted = (SELECT cvk_encrypted FROM vault_cvk_pairs WHERE program_id = 'prog_sandbox')
       WHERE program_id = 'prog_2'`,
    );
    await expect(loadCvkPair(db, keyring, 'prog_2')).rejects.toThrow(/failed authentication/);
  });
});
