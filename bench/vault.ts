/**
 * Vault figures for `npm run bench` (bench/index.ts calls `benchVault`): AES-256-GCM encryption and decryption
 * of a PAN through the keyring, blind-index computation and lookup through an indexed bytea column (10,000 rows,
 * on PGlite and, when reachable, PostgreSQL), Visa CVV2 computation, and with SoftHSM2 installed the HSM's wrap
 * and unwrap of a data key (which the keyring does once per key version per process, never per request).
 * Nothing here fails on a number.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { systemClock } from '../src/platform/clock.js';
import type { Database } from '../src/platform/db/database.js';
import { migrate } from '../src/platform/db/migrate.js';
import { PGliteDatabase } from '../src/platform/db/pglite.js';
import { PostgresDatabase } from '../src/platform/db/postgres.js';
import { createIdGenerator } from '../src/platform/ids.js';
import { computeCvv, CVV2_SERVICE_CODE, generateCvkPair } from '../src/vault/cvv.js';
import { bindToRow } from '../src/vault/encrypted-columns.js';
import { openFileKek } from '../src/vault/kek-file.js';
import { Pkcs11Kek } from '../src/vault/kek-pkcs11.js';
import { Keyring } from '../src/vault/keyring.js';
import { Secret } from '../src/vault/secret.js';
import { createSoftHsmToken, SOFTHSM_MODULE, softHsmUnavailable } from '../src/vault/softhsm.js';

const LOOKUP_ROWS = 10_000;
const INSERT_BATCH_ROWS = 1_000;
/** Synchronous loops look at the time once per this many operations, so reading the clock costs little. */
const CHECK_EVERY = 256;

function rate(count: number, ms: number): string {
  return Math.round((count / ms) * 1000).toLocaleString('en-US');
}

function report(label: string, result: { operations: number; ms: number }): void {
  console.log(`vault    ${label}: ${rate(result.operations, result.ms)}/s`);
}

function loopSync(seconds: number, step: (index: number) => void): { operations: number; ms: number } {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let operations = 0;
  while (performance.now() < deadline) {
    for (let index = 0; index < CHECK_EVERY; index += 1) step(operations + index);
    operations += CHECK_EVERY;
  }
  return { operations, ms: performance.now() - started };
}

async function loopAsync(
  seconds: number,
  concurrency: number,
  step: (index: number) => Promise<void>,
): Promise<{ operations: number; ms: number }> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let operations = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await step(operations);
        operations += 1;
      }
    }),
  );
  return { operations, ms: performance.now() - started };
}

/** A Luhn-irrelevant 16-digit PAN per index: the figures do not depend on the digits. */
function panOf(index: number): string {
  return `4000${String(index).padStart(12, '0')}`;
}

async function benchLookups(
  name: string,
  db: Database,
  keyring: Keyring,
  seconds: number,
  callers: number,
): Promise<void> {
  await db.exec(
    `CREATE TABLE bench_vault_cards (id text COLLATE "C" PRIMARY KEY, pan_index bytea NOT NULL, pan_encrypted bytea NOT NULL)`,
  );
  await db.exec('CREATE INDEX bench_vault_cards_pan_index ON bench_vault_cards (pan_index)');
  const aad = bindToRow('bench_vault_cards', 'pan_encrypted');
  for (let start = 0; start < LOOKUP_ROWS; start += INSERT_BATCH_ROWS) {
    const rows = Array.from({ length: INSERT_BATCH_ROWS }, (_, offset) => {
      const pan = panOf(start + offset);
      const id = `card_${String(start + offset).padStart(8, '0')}`;
      return {
        id,
        index: keyring.blindIndex(pan).toString('hex'),
        encrypted: keyring.encrypt('pan', Buffer.from(pan), aad(id)).toString('hex'),
      };
    });
    await db.query(
      `INSERT INTO bench_vault_cards SELECT id, decode(ix, 'hex'), decode(ct, 'hex')
       FROM unnest($1::text[], $2::text[], $3::text[]) AS r(id, ix, ct)`,
      [rows.map((row) => row.id), rows.map((row) => row.index), rows.map((row) => row.encrypted)],
    );
  }
  await db.exec('ANALYZE bench_vault_cards');
  let misses = 0;
  const result = await loopAsync(seconds, callers, async (index) => {
    // The whole path of a card lookup: index the PAN, then one indexed equality query.
    const pan = panOf((index * 7919) % LOOKUP_ROWS);
    const found = await db.query('SELECT id FROM bench_vault_cards WHERE pan_index = $1', [
      keyring.blindIndex(pan),
    ]);
    if (found.rows.length !== 1) misses += 1;
  });
  report(
    `blind-index lookups (${name}, indexed bytea, ${LOOKUP_ROWS.toLocaleString('en-US')} rows, ${callers} caller${callers === 1 ? '' : 's'})${misses > 0 ? ` [${misses} MISSED]` : ''}`,
    result,
  );
}

async function withPostgres(work: (db: Database) => Promise<void>): Promise<void> {
  const serverUrl =
    process.env.BENCH_DATABASE_URL ??
    process.env.DATABASE_URL ??
    'postgres://postgres@127.0.0.1:5432/postgres';
  const admin = new pg.Client({ connectionString: serverUrl });
  try {
    await admin.connect();
  } catch (error) {
    console.log(
      `vault    postgres: skipped, no server at ${new URL(serverUrl).host} (${(error as Error).message})`,
    );
    return;
  }
  const name = `lantau_bench_vault_${process.pid}_${randomBytes(3).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = new PostgresDatabase({ connectionString: url.toString(), maxConnections: 8 });
  try {
    await migrate(db);
    await work(db);
  } finally {
    await db.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

async function benchHsm(seconds: number, dir: string): Promise<void> {
  const unavailable = softHsmUnavailable();
  if (unavailable !== undefined) {
    console.log(`vault    HSM wraps and unwraps: skipped, ${unavailable}`);
    return;
  }
  const pin = randomBytes(6).toString('hex');
  const token = createSoftHsmToken(
    path.join(dir, 'softhsm'),
    'lantau-bench',
    pin,
    randomBytes(6).toString('hex'),
  );
  // Read by SoftHSM when the module is first initialised in this process.
  process.env.SOFTHSM2_CONF = token.conf;
  const kek = await Pkcs11Kek.open({
    module: SOFTHSM_MODULE,
    tokenLabel: token.label,
    pin: new Secret(pin),
    keyLabel: 'lantau-bench-kek',
  });
  try {
    const dataKey = randomBytes(32);
    const mechanism = kek.mechanism === 'aes-key-wrap-pad' ? 'CKM_AES_KEY_WRAP_PAD' : 'CKM_AES_GCM';
    report(
      `HSM wraps (SoftHSM2, ${mechanism})`,
      await loopAsync(seconds, 1, async () => {
        await kek.wrap(dataKey);
      }),
    );
    const wrapped = await kek.wrap(dataKey);
    report(
      `HSM unwraps (SoftHSM2, ${mechanism})`,
      await loopAsync(seconds, 1, async () => {
        await kek.unwrap(wrapped);
      }),
    );
  } finally {
    await kek.close();
  }
}

export async function benchVault(seconds: number): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lantau-bench-vault-'));
  const clock = systemClock;
  const ids = createIdGenerator(clock);
  const pglite = await PGliteDatabase.open();
  try {
    await migrate(pglite);
    const kek = openFileKek(path.join(dir, 'data'));
    const keyring = await Keyring.open({ db: pglite, kek, clock, ids, refreshIntervalMs: 0 });

    const pan = Buffer.from('4000056655665556');
    const aad = 'cards.pan_encrypted:card_01jbench0000000000000000';
    report(
      'encryptions (AES-256-GCM, PAN)',
      loopSync(seconds, () => void keyring.encrypt('pan', pan, aad)),
    );
    const ciphertext = keyring.encrypt('pan', pan, aad);
    report(
      'decryptions (AES-256-GCM, PAN)',
      await loopAsync(seconds, 1, async () => {
        await keyring.decrypt(ciphertext, aad);
      }),
    );
    report(
      'blind-index computations (HMAC-SHA256)',
      loopSync(seconds, (index) => void keyring.blindIndex(panOf(index))),
    );

    await benchLookups('PGlite', pglite, keyring, seconds, 1);
    await withPostgres(async (db) => {
      // The keyring's keys live in PGlite here; PostgreSQL holds only the table being looked up.
      await benchLookups('postgres', db, keyring, seconds, 8);
    });

    const pair = generateCvkPair();
    report(
      'CVV2 computations (Visa method, 3DES)',
      loopSync(
        seconds,
        (index) =>
          void computeCvv({ pan: panOf(index), expiryYYMM: '3012', serviceCode: CVV2_SERVICE_CODE, ...pair }),
      ),
    );

    await benchHsm(seconds, dir);
    keyring.close();
  } finally {
    await pglite.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
