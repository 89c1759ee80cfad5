import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { createCvkPair, loadCvkPair } from './cvk-pairs.js';
import { parseCvkPair } from './cvv.js';
import { bindToRow } from './encrypted-columns.js';
import { fileKekPath, openFileKek } from './kek-file.js';
import type { KeyEncryptionKey } from './kek.js';
import { Keyring } from './keyring.js';

const PAN = '4000056655665556';
const SANDBOX_CVK = '0123456789ABCDEFFEDCBA9876543210';

/** A needle in every way a key could have been written down: raw, hex in both cases, and base64. */
interface Needle {
  readonly name: string;
  readonly raw: Buffer;
}

function textForms(needle: Needle): string[] {
  const hex = needle.raw.toString('hex');
  return [hex, hex.toUpperCase(), needle.raw.toString('base64'), needle.raw.toString('base64url')];
}

/** Every table in the public schema, read as row text and bytea columns as hex, base64 and raw bytes. */
async function scanDatabase(
  db: TestDatabase,
  needles: readonly Needle[],
): Promise<{ found: string[]; rowsScanned: number; tables: string[] }> {
  const panForms = [PAN, PAN.split('').join(' ')];
  const tables = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const found = new Set<string>();
  let rowsScanned = 0;
  for (const { table_name: table } of tables.rows) {
    const rows = await db.query<{ row: string }>(`SELECT t::text AS row FROM "${table}" t`);
    const byteaColumns = await db.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = $1 AND data_type = 'bytea'`,
      [table],
    );
    const texts = rows.rows.map((row) => row.row);
    const raws: Buffer[] = [];
    for (const { column_name: column } of byteaColumns.rows) {
      const values = await db.query<{ raw: Uint8Array | null; hex: string | null; b64: string | null }>(
        `SELECT "${column}" AS raw, encode("${column}", 'hex') AS hex, encode("${column}", 'base64') AS b64 FROM "${table}"`,
      );
      for (const value of values.rows) {
        if (value.raw !== null) raws.push(Buffer.from(value.raw));
        if (value.hex !== null) texts.push(value.hex);
        if (value.b64 !== null) texts.push(value.b64.replace(/\n/g, ''));
      }
    }
    rowsScanned += rows.rows.length;
    for (const needle of needles) {
      for (const text of texts) {
        const form = [...textForms(needle), ...(needle.name === 'PAN' ? panForms : [])].find((candidate) =>
          text.includes(candidate),
        );
        if (form !== undefined) found.add(`${needle.name} in ${table} (as text)`);
      }
      if (raws.some((raw) => raw.includes(needle.raw))) found.add(`${needle.name} in ${table} (raw bytes)`);
    }
  }
  return { found: [...found], rowsScanned, tables: tables.rows.map((row) => row.table_name) };
}

/**
 * DESIGN.md: keys are never in the database in the clear, and no PAN is stored unencrypted. This test writes
 * everything the vault stores, then reads every table in the schema back, as text and as raw bytea, and looks
 * for the KEK, every data key, the CVKs and the PAN.
 */
describe(`no key or PAN in the database (${process.env.DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  let db: TestDatabase;
  let dataDir: string;
  let kek: KeyEncryptionKey;
  const clock = new ManualClock('2026-05-01T00:00:00.000Z');
  const ids = createIdGenerator(clock);

  beforeAll(async () => {
    db = await openTestDatabase();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'lantau-noplain-'));
    kek = openFileKek(dataDir);
  });
  afterAll(async () => {
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finds none of them in any table', async () => {
    const keyring = await Keyring.open({ db, kek, clock, ids, refreshIntervalMs: 0 });
    await keyring.rotate('pan');
    await db.exec(
      `CREATE TABLE t_scan_cards (id text COLLATE "C" PRIMARY KEY, program_id text COLLATE "C" NOT NULL,
                                  pan_encrypted bytea NOT NULL, pan_index bytea NOT NULL, last4 text NOT NULL)`,
    );
    const aad = bindToRow('t_scan_cards', 'pan_encrypted');
    const given = parseCvkPair(SANDBOX_CVK);
    await db.transaction(async (tx) => {
      await createCvkPair(tx, keyring, 'prog_sandbox', ids, clock, given);
      await createCvkPair(tx, keyring, 'prog_random', ids, clock);
      const id = ids('card');
      await tx.query('INSERT INTO t_scan_cards VALUES ($1, $2, $3, $4, $5)', [
        id,
        'prog_sandbox',
        keyring.encrypt('pan', Buffer.from(PAN), aad(id)),
        keyring.blindIndex(PAN),
        PAN.slice(-4),
      ]);
    });

    const needles: Needle[] = [{ name: 'KEK', raw: readFileSync(fileKekPath(dataDir)) }];
    const wrapped = await db.query<{ purpose: string; version: number; wrapped_key: Uint8Array }>(
      'SELECT purpose, version, wrapped_key FROM vault_data_keys ORDER BY purpose, version',
    );
    expect(wrapped.rows.length).toBe(6);
    for (const row of wrapped.rows) {
      needles.push({
        name: `${row.purpose} v${row.version} data key`,
        raw: await kek.unwrap(Buffer.from(row.wrapped_key)),
      });
    }
    for (const programId of ['prog_sandbox', 'prog_random']) {
      const pair = await loadCvkPair(db, keyring, programId);
      if (pair === undefined) throw new Error(`no pair for ${programId}`);
      needles.push(
        { name: `${programId} CVK A`, raw: pair.cvkA.expose() },
        { name: `${programId} CVK B`, raw: pair.cvkB.expose() },
        { name: `${programId} CVK pair`, raw: Buffer.concat([pair.cvkA.expose(), pair.cvkB.expose()]) },
      );
    }
    needles.push({ name: 'PAN', raw: Buffer.from(PAN) });

    // First prove the scan would see a leak: a key planted as hex text and as raw bytes is found.
    const dataKey = needles[1];
    const cvkA = needles[7];
    if (dataKey === undefined || cvkA === undefined) throw new Error('needles missing');
    await db.exec('CREATE TABLE t_planted (note text, blob bytea)');
    await db.query('INSERT INTO t_planted VALUES ($1, $2)', [
      `key=${dataKey.raw.toString('hex').toUpperCase()}`,
      Buffer.concat([Buffer.of(7), cvkA.raw]),
    ]);
    expect((await scanDatabase(db, needles)).found).toEqual([
      `${dataKey.name} in t_planted (as text)`,
      `${cvkA.name} in t_planted (as text)`,
      `${cvkA.name} in t_planted (raw bytes)`,
    ]);
    await db.exec('DROP TABLE t_planted');

    const { found, rowsScanned, tables } = await scanDatabase(db, needles);
    expect(tables).toEqual(
      expect.arrayContaining(['vault_data_keys', 'vault_cvk_pairs', 't_scan_cards', 'audit_log', 'events']),
    );
    expect(rowsScanned).toBeGreaterThan(9);
    expect(needles.length).toBe(1 + 6 + 6 + 1);
    // Names only: printing the needles would put the keys in the test output.
    expect(found).toEqual([]);
  });
});
