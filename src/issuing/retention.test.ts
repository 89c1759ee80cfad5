import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callJson, expectStatus, openTestApi, type TestApi } from '../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../test/support/programs.js';
import {
  loadTestSanctionsList,
  UNRELATED_LISTED,
  type ListedIndividual,
} from '../../test/support/sanctions.js';
import { addNote, caseForAlert, decideCase, findCase } from '../compliance/aml/cases.js';
import { encryptedColumns } from '../edges/cli/vault.js';
import { verifyAuditChain } from '../records/audit.js';
import { caseContext } from './aml-cases.js';
import { cardholderPiiAad } from './cardholders.js';
import { parsePersonalData } from './personal-data.js';
import { PURGED_PERSONAL_DATA, purgeDue, retentionCutoff } from './retention.js';
import { rescreenDue } from './sanctions-rescreen.js';

/**
 * Retention (issue 11, part 4), on both backends, with a clock moved by hand across the years: a cardholder's
 * personal data is purged five years after their relationship ended, unless a case, an alert or money in a wallet
 * holds it; the records stay, and the audit chain still verifies.
 */

type Json = Record<string, unknown>;
type Headers = Readonly<Record<string, string>>;

const T0 = '2026-03-01T00:00:00.000Z';
const ONE_YEAR_LATER = '2027-03-01T00:00:00.000Z';
/** Two years and a day before the purge below: a case decided then still holds its cardholder. */
const THREE_YEARS_AND_A_DAY = '2029-03-02T00:00:00.000Z';
const FIVE_YEARS_AND_A_DAY = '2031-03-02T00:00:00.000Z';

const LISTED: ListedIndividual = {
  reference: 'QDi.960',
  names: ['HAMID', 'ABD AL-RAHMAN', 'AL-QUDSI'],
  dateOfBirth: '1972-08-14',
};
const ALSO_LISTED: ListedIndividual = {
  reference: 'KPi.961',
  names: ['RI', 'SONG', 'CHOL'],
  dateOfBirth: '1968-02-03',
};

/** Whose relationship ended at T0, with nothing holding them: purged. */
const GONE = {
  name: 'Ho Lok Yee Quintessa',
  email: 'quintessa.ho@retention-test.example',
  phone_number: '+85261230001',
  date_of_birth: '1979-04-02',
  nationality: 'HK',
  occupation: 'Ferrywright',
  address: { line1: '7 Vanishing Terrace', city: 'Tai Po', country: 'HK' },
  ip_address: '198.51.100.201',
  device_id: 'quintessa-phone-1',
};
/** Whose case was reported at T0: purged five years on, the case's grounds, notes and report with them. */
const REPORTED = {
  name: 'Yiu Marigold Tsz Ching',
  email: 'marigold.yiu@retention-test.example',
  phone_number: '+85261230002',
};
/** A namesake of a listed person, cleared at T0: purged, the alert's grounds with them. */
const NAMESAKE = {
  name: 'Abdul-Rahman Hamid al Qudsi',
  email: 'namesake.qudsi@retention-test.example',
  date_of_birth: '1972-08-14',
};
/** Written by people about the purged: in grounds, notes and a report. */
const CASE_WORDS = 'Marigold explained the loads as rent from her tenant Osgood';
const NOTE_WORDS = 'Called Marigold on her second line, +85261239999';
const ALERT_WORDS = 'Not the listed person: passport K9876543 seen';

/** What must be found nowhere once the purge ran: clear text, or inside any ciphertext. */
const PURGED_NEEDLES = [
  GONE.name,
  GONE.email,
  GONE.phone_number,
  GONE.occupation,
  'Vanishing Terrace',
  GONE.ip_address,
  GONE.device_id,
  REPORTED.name,
  REPORTED.email,
  REPORTED.phone_number,
  NAMESAKE.email,
  'Osgood',
  '+85261239999',
  'K9876543',
].map((needle) => needle.toLowerCase());

let api: TestApi;
let main: TestProgram;
let analystId: string;
let analyst: Headers;
type Person =
  | 'gone'
  | 'reported'
  | 'namesake'
  | 'recent'
  | 'openCase'
  | 'recentCase'
  | 'openAlert'
  | 'funded'
  | 'returning'
  | 'createdInactive';
/** Filled in by `beforeAll` (and `createdInactive` by the first test). */
const who = {} as Record<Person, string>;
const caseOf = {} as Record<'reported' | 'open' | 'recent', string>;
let clearedAlert: string;

const call = (method: 'GET' | 'POST' | 'PATCH', url: string, headers: Headers, body?: Json) =>
  callJson(api.app, method, url, headers, body);

async function createCardholder(body: Json): Promise<string> {
  return String((await expectStatus(call('POST', '/v1/cardholders', main.headers, body), 201)).id);
}

async function setStatus(id: string, status: 'active' | 'inactive'): Promise<void> {
  await expectStatus(call('PATCH', `/v1/cardholders/${id}`, main.headers, { status }), 200);
}

interface RetentionRow {
  status: string;
  relationship_ended_at: Date | null;
  purged_at: Date | null;
  pii_encrypted: Uint8Array;
  email_index: Uint8Array | null;
  phone_index: Uint8Array | null;
  device_index: Uint8Array | null;
  ip_index: Uint8Array | null;
}

async function rowOf(id: string): Promise<RetentionRow> {
  const found = await api.db.query<RetentionRow>(
    `SELECT status, relationship_ended_at, purged_at, pii_encrypted, email_index, phone_index, device_index, ip_index
     FROM cardholders WHERE id = $1`,
    [id],
  );
  const row = found.rows[0];
  if (row === undefined) throw new Error(`no cardholder ${id}`);
  return row;
}

async function byEmail(email: string): Promise<Json[]> {
  const list = await expectStatus(
    call('GET', `/v1/cardholders?email=${encodeURIComponent(email)}`, main.headers),
    200,
  );
  return list.data as Json[];
}

/** A person's action on a case: the analyst's, in a transaction of its own. */
const byAnalyst = () => ({ actor: { type: 'user' as const, id: analystId } });

async function openCase(cardholderId: string): Promise<string> {
  return api.db.transaction((tx) => caseForAlert(tx, api.issuing, main.program.id, cardholderId));
}

async function decide(
  caseId: string,
  decision: 'false_positive' | 'reported',
  grounds: string,
  report?: { json: unknown; xml: string },
): Promise<void> {
  const { version } = await findCase(api.db, caseId);
  await api.db.transaction((tx) =>
    decideCase(
      tx,
      caseContext(api.issuing),
      caseId,
      { decision, grounds, version, ...(report === undefined ? {} : { report }) },
      byAnalyst(),
    ),
  );
}

async function openAlertOf(cardholderId: string): Promise<Json> {
  const list = await expectStatus(
    call('GET', `/v1/screening/alerts?cardholder_id=${cardholderId}&status=open`, api.operatorHeaders),
    200,
  );
  const [alert] = list.data as Json[];
  if (alert === undefined) throw new Error(`no open alert for ${cardholderId}`);
  return alert;
}

/** What a second run must leave as it found it. */
async function snapshot(): Promise<unknown> {
  const rows = async (sql: string) => (await api.db.query(sql)).rows;
  return {
    cardholders: await rows(
      `SELECT id, status, encode(pii_encrypted, 'hex') AS pii, email_index IS NULL AS unindexed,
         relationship_ended_at, purged_at, updated_at FROM cardholders ORDER BY id`,
    ),
    cases: await rows(
      `SELECT id, status, version, grounds_encrypted IS NULL AS no_grounds, purged_at FROM aml_cases ORDER BY id`,
    ),
    notes: await rows('SELECT id FROM aml_case_notes ORDER BY id'),
    alerts: await rows(
      `SELECT id, status, version, grounds_encrypted IS NULL AS no_grounds, subject_index IS NULL AS no_subject,
         purged_at FROM screening_alerts ORDER BY id`,
    ),
    events: await rows('SELECT count(*)::int AS n FROM events'),
    audit: await rows('SELECT count(*)::int AS n FROM audit_log'),
  };
}

beforeAll(async () => {
  api = await openTestApi();
  expect(api.clock.now().toISOString()).toBe(T0);
  main = await createTestProgram(api);
  await loadTestSanctionsList(api, [...UNRELATED_LISTED, LISTED, ALSO_LISTED]);
  const user = await expectStatus(
    call('POST', '/v1/operator_users', api.operatorHeaders, {
      name: 'Analyst Retention',
      email: 'analyst.retention@lantau.example',
      role: 'analyst',
    }),
    201,
  );
  analystId = String(user.id);
  analyst = { authorization: `Bearer ${String(user.secret)}` };

  // At T0: everyone onboards.
  who.gone = await createCardholder(GONE);
  who.reported = await createCardholder(REPORTED);
  who.namesake = await createCardholder(NAMESAKE);
  who.recent = await createCardholder({ name: 'Kwok Recent Leaver' });
  who.openCase = await createCardholder({ name: 'Fung Open Case' });
  who.recentCase = await createCardholder({ name: 'Mak Recent Decision' });
  who.openAlert = await createCardholder({ name: 'Ri Song Chol', date_of_birth: '1968-02-03' });
  who.funded = await createCardholder({ name: 'Tang Money Left' });
  who.returning = await createCardholder({ name: 'Lau Came Back' });

  // Money came and went for the purged; some stays for `funded`.
  for (const [holder, load, unload] of [
    [who.gone, 250_00, 250_00],
    [who.funded, 100_00, 0],
  ] as const) {
    const account = await expectStatus(
      call('POST', '/v1/accounts', main.headers, { cardholder_id: holder, currency: 'HKD' }),
      201,
    );
    const url = `/v1/accounts/${String(account.id)}`;
    await expectStatus(call('POST', `${url}/loads`, main.headers, { amount: load, currency: 'HKD' }), 201);
    if (unload > 0) {
      await expectStatus(
        call('POST', `${url}/unloads`, main.headers, { amount: unload, currency: 'HKD' }),
        201,
      );
    }
  }

  // Cases: one reported now (with a note and its report package), one left open, one decided in three years.
  caseOf.reported = await openCase(who.reported);
  await api.db.transaction((tx) =>
    addNote(
      tx,
      caseContext(api.issuing),
      caseOf.reported,
      { kind: 'comment', content: Buffer.from(NOTE_WORDS) },
      byAnalyst(),
    ),
  );
  await decide(caseOf.reported, 'reported', CASE_WORDS, {
    json: { subject: { name: REPORTED.name, email: REPORTED.email } },
    xml: `<report><subject>${REPORTED.name}</subject></report>`,
  });
  caseOf.open = await openCase(who.openCase);
  caseOf.recent = await openCase(who.recentCase);

  // Screening: the namesake's alert is cleared now, the other stays open.
  const namesakeAlert = await openAlertOf(who.namesake);
  clearedAlert = String(namesakeAlert.id);
  await expectStatus(
    call('POST', `/v1/screening/alerts/${clearedAlert}/clear`, analyst, {
      grounds: ALERT_WORDS,
      version: namesakeAlert.version as number,
    }),
    200,
  );
  await openAlertOf(who.openAlert);

  // And at T0 their relationships end, all but two.
  const leaving: Person[] = ['gone', 'reported', 'namesake', 'openCase', 'recentCase', 'openAlert', 'funded'];
  for (const holder of leaving) {
    await setStatus(who[holder], 'inactive');
  }
});
afterAll(async () => api.close());

describe('when the relationship ends', () => {
  it('starts the five years when a cardholder becomes inactive, or is created inactive', async () => {
    expect((await rowOf(who.gone)).relationship_ended_at?.toISOString()).toBe(T0);
    expect((await rowOf(who.recent)).relationship_ended_at).toBeNull();
    who.createdInactive = await createCardholder({ name: 'Siu Never Active', status: 'inactive' });
    expect((await rowOf(who.createdInactive)).relationship_ended_at?.toISOString()).toBe(T0);
  });

  it('stops them if the cardholder becomes active again, and starts afresh when they leave again', async () => {
    const id = who.returning;
    await setStatus(id, 'inactive');
    expect((await rowOf(id)).relationship_ended_at?.toISOString()).toBe(T0);
    api.clock.advance(24 * 60 * 60 * 1000);
    // A change that leaves the status alone moves nothing.
    await expectStatus(call('PATCH', `/v1/cardholders/${id}`, main.headers, { metadata: { a: 'b' } }), 200);
    expect((await rowOf(id)).relationship_ended_at?.toISOString()).toBe(T0);
    await setStatus(id, 'active');
    expect(await rowOf(id)).toMatchObject({ status: 'active', relationship_ended_at: null });
  });
});

describe('the purge', () => {
  it('purges no one before five years have passed', async () => {
    api.clock.set(ONE_YEAR_LATER);
    await setStatus(who.recent, 'inactive');
    api.clock.set(THREE_YEARS_AND_A_DAY);
    await decide(caseOf.recent, 'false_positive', 'Mak showed the payslips for every load');
    const early = await purgeDue(api.issuing);
    expect(early).toMatchObject({ purged: 0, cases: 0, alerts: 0, completed: true });
    expect((await rowOf(who.gone)).purged_at).toBeNull();
  });

  it('purges a cardholder five years and a day after their relationship ended', async () => {
    api.clock.set(FIVE_YEARS_AND_A_DAY);
    const id = who.gone;
    expect((await byEmail(GONE.email)).map((holder) => holder.id)).toEqual([id]);

    // What AML monitoring recorded of the device they onboarded from (as the monitor writes it).
    await api.db.query(
      `INSERT INTO aml_activity (kind, id, program_id, cardholder_id, at, amount, currency, device_key, device_kind)
       VALUES ('onboarding', $1, $2, $3, $4, 0, '', $5, 'device')`,
      [`${id}:device`, main.program.id, id, new Date(T0), api.vault.blindIndex(GONE.device_id, 'device')],
    );

    // Small batches, so the run goes through several transactions.
    const firstRun = await purgeDue(api.issuing, { batchSize: 3 });
    expect(firstRun).toMatchObject({ purged: 4, held: 3, cases: 1, alerts: 1, completed: true });
    expect(firstRun.heldByBalance).toEqual([who.funded]);

    const row = await rowOf(id);
    expect(row.purged_at?.toISOString()).toBe(FIVE_YEARS_AND_A_DAY);
    expect(row.relationship_ended_at?.toISOString()).toBe(T0);
    expect([row.email_index, row.phone_index, row.device_index, row.ip_index]).toEqual([
      null,
      null,
      null,
      null,
    ]);
    const document = parsePersonalData(
      await api.vault.decrypt(Buffer.from(row.pii_encrypted), cardholderPiiAad(id)),
    );
    expect(document).toEqual(PURGED_PERSONAL_DATA);
    const keyed = await api.db.query(
      'SELECT 1 FROM aml_activity WHERE cardholder_id = $1 AND device_key IS NOT NULL',
      [id],
    );
    expect(keyed.rows).toEqual([]);

    // The API still answers, with the placeholder, to the programme and to the operator.
    for (const headers of [main.headers, api.operatorHeaders]) {
      const shown = await expectStatus(call('GET', `/v1/cardholders/${id}`, headers), 200);
      expect(shown).toMatchObject({ id, status: 'inactive', ...PURGED_PERSONAL_DATA });
    }
    expect(await byEmail(GONE.email)).toEqual([]);
  });

  it('keeps who left four years ago, who came back, and whom a case, an alert or money holds', async () => {
    const kept: Person[] = ['recent', 'returning', 'openCase', 'recentCase', 'openAlert', 'funded'];
    for (const holder of kept) {
      const id = who[holder];
      expect((await rowOf(id)).purged_at, holder).toBeNull();
      const shown = await expectStatus(call('GET', `/v1/cardholders/${id}`, main.headers), 200);
      expect(shown.name, holder).not.toBe(PURGED_PERSONAL_DATA.name);
    }
    expect(await byEmail(REPORTED.email)).toEqual([]);
    for (const holder of ['reported', 'namesake', 'createdInactive'] as const) {
      expect((await rowOf(who[holder])).purged_at?.toISOString(), holder).toBe(FIVE_YEARS_AND_A_DAY);
    }
  });

  it('purges what people wrote on the cases and alerts decided over five years ago, keeping the records', async () => {
    const reported = await findCase(api.db, caseOf.reported);
    expect(reported).toMatchObject({
      status: 'reported',
      decided_by: analystId,
      grounds_encrypted: null,
      report_encrypted: null,
    });
    const notes = await api.db.query('SELECT id FROM aml_case_notes WHERE case_id = $1', [reported.id]);
    expect(notes.rows).toEqual([]);
    // The case decided two years ago, and the open one, keep everything.
    const recent = await findCase(api.db, caseOf.recent);
    expect(recent.grounds_encrypted).not.toBeNull();
    // Sealed as compliance sealed it when it called the vault itself: `pii`, bound to table, column and row.
    const grounds = await api.vault.decrypt(
      Buffer.from(recent.grounds_encrypted ?? []),
      `aml_cases.grounds_encrypted:${recent.id}`,
    );
    expect(grounds.toString('utf8')).toBe('Mak showed the payslips for every load');
    expect((await findCase(api.db, caseOf.open)).status).toBe('open');

    const alert = await expectStatus(
      call('GET', `/v1/screening/alerts/${clearedAlert}`, api.operatorHeaders),
      200,
    );
    expect(alert).toMatchObject({ status: 'cleared', decided_by: analystId, grounds: null });
    expect((alert.candidates as Json[])[0]).toMatchObject({ reference: LISTED.reference });
    const stored = await api.db.query<{ subject_index: Uint8Array | null; purged_at: Date | null }>(
      'SELECT subject_index, purged_at FROM screening_alerts WHERE id = $1',
      [clearedAlert],
    );
    expect(stored.rows[0]).toMatchObject({ subject_index: null, purged_at: new Date(FIVE_YEARS_AND_A_DAY) });
  });

  it('records each purge as an event and an audit entry without personal data, and the chain verifies', async () => {
    const id = who.gone;
    const events = await api.db.query<{ program_id: string; data: { object: Json } }>(
      `SELECT program_id, data FROM events WHERE type = 'cardholder.purged' AND data->'object'->>'id' = $1`,
      [id],
    );
    expect(events.rows).toHaveLength(1);
    expect(events.rows[0]?.program_id).toBe(main.program.id);
    expect(events.rows[0]?.data.object).toMatchObject({ id, object: 'cardholder', status: 'inactive' });
    expect(events.rows[0]?.data.object).not.toHaveProperty('name');
    const caseEvents = await api.db.query<{ program_id: string | null }>(
      `SELECT program_id FROM events WHERE type = 'aml_case.purged' AND data->'object'->>'id' = $1`,
      [caseOf.reported],
    );
    // Platform-wide, as every AML event: the programme never hears of the case.
    expect(caseEvents.rows).toEqual([{ program_id: null }]);

    const audits = await api.db.query<{ actor_type: string; actor_id: string; details: Json }>(
      `SELECT actor_type, actor_id, details FROM audit_log WHERE action = 'cardholder.purged' AND target_id = $1`,
      [who.reported],
    );
    expect(audits.rows).toEqual([
      {
        actor_type: 'system',
        actor_id: 'retention',
        details: { relationship_ended: T0, aml_cases: 1, case_notes: 1, screening_alerts: 0 },
      },
    ]);
    const verified = await verifyAuditChain(api.db);
    expect(verified.ok).toBe(true);
    expect(verified.entries).toBeGreaterThan(20);
  });

  it('leaves the purged nowhere: in no table in the clear, in no ciphertext that opens', async () => {
    const tables = await api.db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    expect(tables.rows.map((row) => row.table_name)).toEqual(
      expect.arrayContaining(['cardholders', 'aml_cases', 'screening_alerts', 'events', 'audit_log']),
    );
    for (const { table_name: table } of tables.rows) {
      const { rows } = await api.db.query<{ text: string }>(`SELECT t::text AS text FROM "${table}" t`);
      for (const row of rows) {
        const text = row.text.toLowerCase();
        for (const needle of PURGED_NEEDLES)
          expect(text.includes(needle), `${table} holds ${needle}`).toBe(false);
      }
    }
    let opened = 0;
    for (const column of encryptedColumns().list()) {
      if (column.purpose !== 'pii') continue;
      const { rows } = await api.db.query<{ id: string; value: Uint8Array }>(
        `SELECT "${column.idColumn}" AS id, "${column.column}" AS value FROM "${column.table}"
         WHERE "${column.column}" IS NOT NULL`,
      );
      for (const row of rows) {
        const plain = await api.vault.decrypt(Buffer.from(row.value), column.aad?.(row.id));
        const text = plain.toString('utf8').toLowerCase();
        opened += 1;
        for (const needle of PURGED_NEEDLES) {
          expect(text.includes(needle), `${column.table}.${column.column} ${row.id} holds ${needle}`).toBe(
            false,
          );
        }
      }
    }
    // Every cardholder's document (ten) and the grounds still held (the case decided two years ago) were read.
    expect(opened).toBeGreaterThanOrEqual(11);
  });

  it('refuses to write a purged cardholder’s personal data again, or to make them active', async () => {
    const id = who.gone;
    for (const body of [{ name: 'Ho Lok Yee' }, { email: null }, { status: 'active' }]) {
      const refused = await expectStatus(call('PATCH', `/v1/cardholders/${id}`, main.headers, body), 400);
      expect(refused).toMatchObject({ error: { code: 'cardholder_purged' } });
    }
    const kept = await expectStatus(
      call('PATCH', `/v1/cardholders/${id}`, main.headers, { metadata: { archived: 'yes' } }),
      200,
    );
    expect(kept).toMatchObject({ name: PURGED_PERSONAL_DATA.name, metadata: { archived: 'yes' } });
    expect((await rowOf(id)).relationship_ended_at?.toISOString()).toBe(T0);
  });

  it('changes nothing more when it runs again', async () => {
    const before = await snapshot();
    const again = await purgeDue(api.issuing);
    expect(again).toMatchObject({ purged: 0, held: 3, cases: 0, alerts: 0, completed: true });
    expect(again.heldByBalance).toEqual([who.funded]);
    expect(await snapshot()).toEqual(before);
  });

  it('is skipped by the re-screen after a list loads: a purged cardholder has no name to screen', async () => {
    const purged = await api.db.query<{ screened_lists: string | null }>(
      'SELECT screened_lists FROM cardholders WHERE id = $1',
      [who.gone],
    );
    await loadTestSanctionsList(api, [...UNRELATED_LISTED, LISTED, ALSO_LISTED]);
    const progress = await rescreenDue(api.issuing);
    expect(progress).toMatchObject({ completed: true, failed: [] });
    const after = await api.db.query<{ screened_lists: string | null }>(
      'SELECT screened_lists FROM cardholders WHERE id = $1',
      [who.gone],
    );
    expect(after.rows).toEqual(purged.rows);
  });

  it('keeps the checks it loosened as tight as before for everything not purged', async () => {
    const refused = async (sql: string, params: string[], constraint: string) =>
      expect(api.db.query(sql, params)).rejects.toThrow(constraint);
    // A reported case keeps its report until it is purged, and only a decided case is purged.
    await refused(
      `UPDATE aml_cases SET status = 'reported', decided_at = now(), decided_by = 'x' WHERE id = $1`,
      [caseOf.open],
      'aml_cases_report_check',
    );
    await refused(
      'UPDATE aml_cases SET purged_at = now() WHERE id = $1',
      [caseOf.open],
      'aml_cases_purged_check',
    );
    // A decided alert keeps its grounds and every alert its subject until purged; an open one is never purged.
    const open = String((await openAlertOf(who.openAlert)).id);
    await refused(
      `UPDATE screening_alerts SET status = 'cleared', decided_at = now(), decided_by = 'x' WHERE id = $1`,
      [open],
      'screening_alerts_grounds_check',
    );
    await refused(
      'UPDATE screening_alerts SET subject_index = NULL WHERE id = $1',
      [open],
      'screening_alerts_subject_check',
    );
    await refused(
      'UPDATE screening_alerts SET purged_at = now() WHERE id = $1',
      [open],
      'screening_alerts_purged_check',
    );
    // A purged cardholder is inactive for good.
    await refused(
      `UPDATE cardholders SET status = 'active' WHERE id = $1`,
      [who.gone],
      'cardholders_retention_check',
    );
  });
});

describe('retentionCutoff', () => {
  it('goes back five calendar years in UTC, a 29 February to the 28th', () => {
    expect(retentionCutoff(new Date('2031-03-02T10:30:00.000Z')).toISOString()).toBe(
      '2026-03-02T10:30:00.000Z',
    );
    expect(retentionCutoff(new Date('2028-02-29T12:00:00.000Z')).toISOString()).toBe(
      '2023-02-28T12:00:00.000Z',
    );
    expect(retentionCutoff(new Date('2029-01-01T00:00:00.000Z')).toISOString()).toBe(
      '2024-01-01T00:00:00.000Z',
    );
  });
});
