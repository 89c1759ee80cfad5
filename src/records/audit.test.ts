import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCliDatabase, type CliDatabase } from '../../test/support/cli.js';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import type { Database } from '../platform/db/database.js';
import { createIdGenerator } from '../platform/ids.js';
import { appendAudit, verifyAuditChain, type AuditInput } from './audit.js';

const clock = new ManualClock('2026-05-01T00:00:00.000Z');
const context = { clock, ids: createIdGenerator(clock) };

const entry = (index: number): AuditInput => ({
  actor: { type: 'operator', id: 'key_operator' },
  action: 'program.updated',
  programId: 'prog_1',
  target: { type: 'program', id: 'prog_1' },
  requestId: `req_${index}`,
  details: { field: 'name', version: index, live: index % 2 === 0, note: null },
});

async function appendMany(db: Database, count: number): Promise<void> {
  for (let index = 1; index <= count; index += 1) {
    clock.advance(1_000);
    await db.transaction((tx) => appendAudit(tx, context, entry(index)));
  }
}

/** Edits a row the way only someone able to switch the append-only trigger off could. */
async function tamper(db: Database, sql: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.exec('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change');
    await tx.exec(sql);
    await tx.exec('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change');
  });
}

describe('audit log', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase();
  });
  afterAll(async () => db.close());

  it('chains each entry to the one before, and verifies whole', async () => {
    expect(await verifyAuditChain(db)).toEqual({ ok: true, entries: 0, head: null });
    await appendMany(db, 12);
    const result = await verifyAuditChain(db, 5);
    expect(result).toMatchObject({ ok: true, entries: 12, head: { seq: 12 } });
  });

  it('keeps the chain whole when many append at once', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        db.transaction((tx) => appendAudit(tx, context, entry(100 + index))),
      ),
    );
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true, entries: 32 });
  });

  it('refuses UPDATE, DELETE and TRUNCATE', async () => {
    await expect(db.query(`UPDATE audit_log SET action = 'x.y' WHERE seq = 1`)).rejects.toThrow(
      /append-only/,
    );
    await expect(db.query('DELETE FROM audit_log WHERE seq = 1')).rejects.toThrow(/append-only/);
    await expect(db.exec('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
  });

  it('refuses details that are not flat references', async () => {
    await expect(
      db.transaction((tx) =>
        appendAudit(tx, context, { ...entry(0), details: { nested: { a: 1 } as unknown as string } }),
      ),
    ).rejects.toThrow(TypeError);
  });

  it('names the entry that was edited', async () => {
    await tamper(db, `UPDATE audit_log SET details = jsonb_set(details, '{field}', '"email"') WHERE seq = 7`);
    expect(await verifyAuditChain(db)).toMatchObject({
      ok: false,
      entries: 6,
      broken: { seq: 7, reason: 'hash_mismatch' },
    });
  });
});

describe('audit log tampering found by `lantau audit verify`', () => {
  let cli: CliDatabase;
  beforeAll(async () => {
    cli = await openCliDatabase();
    await appendMany(cli.db(), 5);
  });
  afterAll(async () => cli.close());

  const verify = () => cli.run(['audit', 'verify']);

  it('passes an untouched chain, then fails and names the edited entry', async () => {
    const clean = await verify();
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain('audit log intact: 5 entries');

    await tamper(cli.db(), `UPDATE audit_log SET actor_id = 'someone_else' WHERE seq = 3`);
    const [edited] = (await cli.db().query<{ id: string }>('SELECT id FROM audit_log WHERE seq = 3')).rows;
    const broken = await verify();
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(`first broken entry: 3 (${edited?.id ?? '?'}): hash_mismatch`);
  });
});
