import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callJson, expectStatus, openTestApi, type TestApi } from '../../../../test/support/app.js';
import { createTestProgram, type TestProgram } from '../../../../test/support/programs.js';
import {
  loadTestSanctionsList,
  UNRELATED_LISTED,
  type ListedIndividual,
} from '../../../../test/support/sanctions.js';
import { screenCardholder } from '../../../issuing/cardholder-screening.js';
import { rescreenDue } from '../../../issuing/sanctions-rescreen.js';
import { verifyLedger } from '../../../ledger/verify.js';

/**
 * Sanctions screening in the cardholder flow (issue 10), over HTTP on both backends: screened when created and
 * when the screened fields change, everyone again when a list version loads; a potential match blocks cards and
 * money and pauses cards already issued; a person clears it (cards resume) or confirms it (cards close, accounts
 * freeze). Lists here are small UN documents written by the test, loaded as `lantau sanctions load` loads them.
 */

type Json = Record<string, unknown>;
type Headers = Readonly<Record<string, string>>;

const DINER = {
  name: 'Tai Cheong Bakery',
  mcc: '5812',
  country: 'HK',
  city: 'Hong Kong',
  acceptor_id: 'TCB000000000001',
  acquirer_id: '40000000001',
};

const LISTED: ListedIndividual = {
  reference: 'QDi.950',
  names: ['HAMID', 'ABD AL-RAHMAN', 'AL-QUDSI'],
  dateOfBirth: '1972-08-14',
};
/** A second listed person, added to a later version of the list. */
const LATER_LISTED: ListedIndividual = {
  reference: 'KPi.951',
  names: ['RI', 'SONG', 'CHOL'],
  dateOfBirth: '1968-02-03',
  nationality: "Democratic People's Republic of Korea",
};

const BY = { actor: { type: 'system' as const, id: 'test' } };

let api: TestApi;
let main: TestProgram;
let analyst: Headers;
let analystId: string;

const call = (method: 'GET' | 'POST' | 'PATCH', url: string, headers: Headers, body?: Json) =>
  callJson(api.app, method, url, headers, body);

/** Loads a new version of the UN list with these people (and the unrelated ones), as a newer file would be. */
async function loadList(people: readonly ListedIndividual[]): Promise<void> {
  const loaded = await loadTestSanctionsList(api, [...UNRELATED_LISTED, ...people]);
  expect(loaded.created).toBe(true);
}

async function createCardholder(body: Json, program: TestProgram = main): Promise<Json> {
  return expectStatus(call('POST', '/v1/cardholders', program.headers, body), 201);
}

/** A cardholder with an account holding HKD 500.00 and an active card, made while they screen clear. */
async function cardholderWithCard(
  body: Json,
  program: TestProgram = main,
): Promise<{ id: string; account: string; card: string }> {
  const holder = await createCardholder(body, program);
  expect(holder.screening_status).toBe('clear');
  const account = await expectStatus(
    call('POST', '/v1/accounts', program.headers, { cardholder_id: holder.id, currency: 'HKD' }),
    201,
  );
  await expectStatus(
    call('POST', `/v1/accounts/${String(account.id)}/loads`, program.headers, {
      amount: 50_000,
      currency: 'HKD',
    }),
    201,
  );
  const card = await expectStatus(
    call('POST', '/v1/cards', program.headers, {
      cardholder_id: holder.id,
      account_id: account.id,
      type: 'multi_use',
    }),
    201,
  );
  return { id: String(holder.id), account: String(account.id), card: String(card.id) };
}

async function openAlertOf(cardholderId: string): Promise<Json> {
  const list = await expectStatus(
    call('GET', `/v1/screening/alerts?cardholder_id=${cardholderId}&status=open`, api.operatorHeaders),
    200,
  );
  const data = list.data as Json[];
  expect(data).toHaveLength(1);
  const [alert] = data;
  if (alert === undefined) throw new Error('no open alert');
  return alert;
}

async function eventsOf(type: string, id: string): Promise<Json[]> {
  const found = await api.db.query<{ data: { object: Json } }>(
    `SELECT data FROM events WHERE type = $1 AND data->'object'->>'id' = $2 ORDER BY id`,
    [type, id],
  );
  return found.rows.map((row) => row.data.object);
}

async function authorize(card: string, amount = 1_000): Promise<Json> {
  return expectStatus(
    call('POST', '/v1/simulate/authorizations', main.headers, {
      card_id: card,
      amount,
      currency: 'HKD',
      merchant: DINER,
    }),
    201,
  );
}

beforeAll(async () => {
  api = await openTestApi();
  main = await createTestProgram(api);
  await loadList([LISTED]);
  const user = await expectStatus(
    call('POST', '/v1/operator_users', api.operatorHeaders, {
      name: 'Wong Ka Yan',
      email: 'analyst@lantau.example',
      role: 'analyst',
    }),
    201,
  );
  analyst = { authorization: `Bearer ${String(user.secret)}` };
  analystId = String(user.id);
});
afterAll(async () => api.close());

describe('screening a cardholder when created', () => {
  it('finds a listed person under an altered name, opens an alert and refuses cards and loads', async () => {
    const holder = await createCardholder({
      name: 'Abdul-Rahman Hamid al Qudsi',
      date_of_birth: '1972-08-14',
    });
    expect(holder.screening_status).toBe('potential_match');

    const alert = await openAlertOf(String(holder.id));
    expect(alert).toMatchObject({
      object: 'screening_alert',
      status: 'open',
      trigger: 'cardholder_created',
      paused_cards: [],
      decided: null,
    });
    const [candidate] = alert.candidates as Json[];
    expect(candidate).toMatchObject({
      list: 'un',
      reference: 'QDi.950',
      matched_name: 'HAMID ABD AL-RAHMAN AL-QUDSI',
    });
    expect(candidate?.score).toBeGreaterThanOrEqual(80);
    expect(await eventsOf('screening_alert.created', String(alert.id))).toHaveLength(1);
    // The alert carries the list's data, never the cardholder's.
    expect(JSON.stringify(alert)).not.toContain('Abdul-Rahman');

    const account = await expectStatus(
      call('POST', '/v1/accounts', main.headers, { cardholder_id: holder.id, currency: 'HKD' }),
      201,
    );
    const load = await expectStatus(
      call('POST', `/v1/accounts/${String(account.id)}/loads`, main.headers, {
        amount: 1_000,
        currency: 'HKD',
      }),
      400,
    );
    expect(load).toMatchObject({ error: { code: 'cardholder_screening_hold' } });
    const card = await expectStatus(
      call('POST', '/v1/cards', main.headers, {
        cardholder_id: holder.id,
        account_id: account.id,
        type: 'multi_use',
      }),
      400,
    );
    expect(card).toMatchObject({ error: { code: 'cardholder_screening_hold', param: 'cardholder_id' } });
  });

  it('lets an ordinary name through; a declared date of birth raises a score but does not lower one', async () => {
    const ordinary = await createCardholder({ name: 'Chan Siu Ming', date_of_birth: '1990-01-01' });
    expect(ordinary.screening_status).toBe('clear');
    // The listed name, declared born 30 years later and a Hong Kong national: until KYC has verified that, the
    // name alone decides, and a person looks.
    const namesake = await createCardholder({
      name: 'Hamid Abd al-Rahman al-Qudsi',
      date_of_birth: '2002-05-30',
      nationality: 'HK',
    });
    expect(namesake.screening_status).toBe('potential_match');

    // Verified, the date of birth settles a namesake (the screening itself, on the cardholder's row).
    const subject = {
      id: String(ordinary.id),
      program_id: main.program.id,
      name: 'Hamid Abd al-Rahman al-Qudsi',
      date_of_birth: '2002-05-30',
      nationality: 'HK',
      screening_status: 'clear' as const,
    };
    const verified = await api.db.transaction((tx) =>
      screenCardholder(tx, api.issuing, { ...subject, kyc_status: 'verified' }, 'cardholder_updated', BY),
    );
    expect(verified.status).toBe('clear');
    const declared = await api.db.transaction((tx) =>
      screenCardholder(tx, api.issuing, { ...subject, kyc_status: 'unverified' }, 'cardholder_updated', BY),
    );
    expect(declared.status).toBe('potential_match');
  });

  it('screens again when the name changes, pausing the cards, and not when only the email does', async () => {
    const holder = await cardholderWithCard({ name: 'Lee Ka Ho', date_of_birth: '1972-08-14' });
    const emailOnly = await expectStatus(
      call('PATCH', `/v1/cardholders/${holder.id}`, main.headers, { email: 'lee@example.com' }),
      200,
    );
    expect(emailOnly.screening_status).toBe('clear');

    const renamed = await expectStatus(
      call('PATCH', `/v1/cardholders/${holder.id}`, main.headers, { name: 'AL QUDSI Hamid Abd al Rahman' }),
      200,
    );
    expect(renamed.screening_status).toBe('potential_match');
    const alert = await openAlertOf(holder.id);
    expect(alert).toMatchObject({ trigger: 'cardholder_updated', paused_cards: [holder.card] });
    const card = await expectStatus(call('GET', `/v1/cards/${holder.card}`, main.headers), 200);
    expect(card).toMatchObject({ status: 'paused', status_reason: 'compliance' });
  });
});

describe('re-screening everyone when a list version loads', () => {
  it('pauses the cards of a cardholder the new version names, and declines their authorizations', async () => {
    const named = await cardholderWithCard({
      name: 'Ri Song Chol',
      date_of_birth: '1968-02-03',
      nationality: 'KP',
    });
    const other = await cardholderWithCard({ name: 'Ho Wing Sze', date_of_birth: '1985-06-06' });
    expect((await authorize(named.card)).approved).toBe(true);

    await loadList([LISTED, LATER_LISTED]);
    const progress = await rescreenDue(api.issuing, { batchSize: 3 });
    expect(progress).toMatchObject({ completed: true });
    expect(progress?.screened).toBeGreaterThanOrEqual(2);
    expect(progress?.alerts).toBe(1);
    // Done for these versions: nothing further to do until another loads.
    expect(await rescreenDue(api.issuing)).toBeUndefined();

    const holder = await expectStatus(call('GET', `/v1/cardholders/${named.id}`, main.headers), 200);
    expect(holder.screening_status).toBe('potential_match');
    const alert = await openAlertOf(named.id);
    expect(alert).toMatchObject({ trigger: 'lists_updated', paused_cards: [named.card] });
    expect((alert.candidates as Json[])[0]).toMatchObject({ reference: 'KPi.951' });
    const card = await expectStatus(call('GET', `/v1/cards/${named.card}`, main.headers), 200);
    expect(card).toMatchObject({ status: 'paused', status_reason: 'compliance' });
    expect(await eventsOf('cardholder.screening_updated', named.id)).toHaveLength(1);
    const completed = await api.db.query<{ data: { object: Json } }>(
      `SELECT data FROM events WHERE type = 'sanctions_rescreen.completed' ORDER BY id DESC LIMIT 1`,
    );
    expect(completed.rows[0]?.data.object).toMatchObject({ object: 'sanctions_rescreen', alerts: 1 });

    const declined = await authorize(named.card);
    expect(declined).toMatchObject({ approved: false, decline_reason: 'card_paused' });
    // The programme cannot lift a compliance pause, nor turn it into a pause of its own.
    for (const change of [{ status: 'active' }, { status: 'paused', status_reason: 'requested' }]) {
      const refused = await expectStatus(call('PATCH', `/v1/cards/${named.card}`, main.headers, change), 400);
      expect(refused).toMatchObject({ error: { code: 'card_compliance_hold' } });
    }
    const unload = await expectStatus(
      call('POST', `/v1/accounts/${named.account}/unloads`, main.headers, { amount: 100, currency: 'HKD' }),
      400,
    );
    expect(unload).toMatchObject({ error: { code: 'cardholder_screening_hold' } });

    // The unrelated cardholder was screened and stays untouched.
    expect((await authorize(other.card)).approved).toBe(true);
    expect((await verifyLedger(api.db)).ok).toBe(true);
  });
});

describe('deciding an alert', () => {
  it('is for an operator user, with grounds', async () => {
    const holder = await createCardholder({
      name: 'Qudsi, Hamid Abd-al-Rahman',
      date_of_birth: '1972-08-14',
    });
    const alert = await openAlertOf(String(holder.id));
    const url = `/v1/screening/alerts/${String(alert.id)}/clear`;
    const version = Number(alert.version);
    const byKey = await expectStatus(
      call('POST', url, api.operatorHeaders, { grounds: 'Not him', version }),
      403,
    );
    expect(byKey).toMatchObject({ error: { code: 'operator_user_required' } });
    await expectStatus(call('POST', url, main.headers, { grounds: 'Not him', version }), 403);
    const blank = await expectStatus(call('POST', url, analyst, { grounds: '   ', version }), 400);
    expect(blank).toMatchObject({ error: { code: 'grounds_required', param: 'grounds' } });
    await expectStatus(call('POST', url, analyst, {}), 400);
    await expectStatus(call('POST', url, analyst, { grounds: 'Not him' }), 400);
    // Nothing changed.
    expect(await openAlertOf(String(holder.id))).toMatchObject({ id: alert.id, status: 'open' });
  });

  it('clears: the cards it paused resume, and the same entry is not raised again for the same person', async () => {
    const holder = await cardholderWithCard({ name: 'Lam Mei Ling', date_of_birth: '1972-08-14' });
    await expectStatus(
      call('PATCH', `/v1/cardholders/${holder.id}`, main.headers, { name: 'Hamid Abd-al-Rahman Qudsi' }),
      200,
    );
    const alert = await openAlertOf(holder.id);
    const cleared = await expectStatus(
      call('POST', `/v1/screening/alerts/${String(alert.id)}/clear`, analyst, {
        grounds: 'Passport HK1234567 seen: born in Hong Kong, a different person from QDi.950',
        version: alert.version,
      }),
      200,
    );
    expect(cleared.status).toBe('cleared');
    expect(cleared.decided_by).toBe(analystId);
    // The grounds are the operator's to read; a programme, the event and the table's clear columns never hold them.
    expect(cleared.grounds).toContain('HK1234567');
    const byProgramme = await expectStatus(
      call('GET', `/v1/screening/alerts/${String(alert.id)}`, main.headers),
      200,
    );
    expect(byProgramme).toMatchObject({ status: 'cleared', grounds: null });
    expect(await eventsOf('screening_alert.cleared', String(alert.id))).toEqual([
      expect.objectContaining({ status: 'cleared', grounds: null }),
    ]);
    const stored = await api.db.query<{ row: string }>(
      'SELECT row_to_json(a)::text AS row FROM screening_alerts a WHERE id = $1',
      [String(alert.id)],
    );
    expect(stored.rows[0]?.row).not.toContain('HK1234567');
    const again = await expectStatus(
      call('POST', `/v1/screening/alerts/${String(alert.id)}/clear`, analyst, {
        grounds: 'twice',
        version: cleared.version,
      }),
      409,
    );
    expect(again).toMatchObject({ error: { code: 'screening_alert_decided' } });

    const card = await expectStatus(call('GET', `/v1/cards/${holder.card}`, main.headers), 200);
    expect(card).toMatchObject({ status: 'active', status_reason: null });
    const cardholder = await expectStatus(call('GET', `/v1/cardholders/${holder.id}`, main.headers), 200);
    expect(cardholder.screening_status).toBe('clear');
    expect((await authorize(holder.card)).approved).toBe(true);

    const audit = await api.db.query<{ actor_type: string; details: Json }>(
      `SELECT actor_type, details FROM audit_log WHERE action = 'screening_alert.cleared' AND target_id = $1`,
      [String(alert.id)],
    );
    expect(audit.rows).toEqual([
      { actor_type: 'user', details: { cardholder: holder.id, version: alert.version, cards_resumed: 1 } },
    ]);

    // A newer list version with the same entry: screened again, the cleared match is not raised.
    await loadList([LISTED, LATER_LISTED, { reference: 'QDi.952', names: ['UNRELATED', 'PERSON'] }]);
    await rescreenDue(api.issuing);
    const after = await expectStatus(call('GET', `/v1/cardholders/${holder.id}`, main.headers), 200);
    expect(after.screening_status).toBe('clear');
  });

  it('confirms: every card closes and every account freezes', async () => {
    const holder = await cardholderWithCard({ name: 'Cheung Tsz Kin', date_of_birth: '1968-02-03' });
    await expectStatus(
      call('PATCH', `/v1/cardholders/${holder.id}`, main.headers, {
        name: 'Ri Song-chol',
        nationality: 'KP',
      }),
      200,
    );
    const alert = await openAlertOf(holder.id);
    await expectStatus(
      call('POST', `/v1/screening/alerts/${String(alert.id)}/confirm`, analyst, {
        grounds: 'Date of birth, nationality and passport number match KPi.951',
        version: alert.version,
      }),
      200,
    );
    const cardholder = await expectStatus(call('GET', `/v1/cardholders/${holder.id}`, main.headers), 200);
    expect(cardholder.screening_status).toBe('confirmed_match');
    const card = await expectStatus(call('GET', `/v1/cards/${holder.card}`, main.headers), 200);
    expect(card).toMatchObject({ status: 'closed', status_reason: 'compliance' });
    const account = await expectStatus(call('GET', `/v1/accounts/${holder.account}`, main.headers), 200);
    expect(account).toMatchObject({ status: 'frozen', balance: { posted: 50_000 } });

    const unload = await expectStatus(
      call('POST', `/v1/accounts/${holder.account}/unloads`, main.headers, { amount: 100, currency: 'HKD' }),
      400,
    );
    expect(unload).toMatchObject({ error: { code: 'account_frozen' } });
    const thaw = await expectStatus(
      call('PATCH', `/v1/accounts/${holder.account}`, main.headers, { status: 'active' }),
      400,
    );
    expect(thaw).toMatchObject({ error: { code: 'account_frozen' } });
    await expectStatus(
      call('PATCH', `/v1/accounts/${holder.account}`, main.headers, { status: 'frozen' }),
      400,
    );
    expect(await eventsOf('account.updated', holder.account)).toEqual([
      expect.objectContaining({ status: 'frozen' }),
    ]);

    // Re-screening does not undo a confirmation.
    await loadList([LISTED, LATER_LISTED, { reference: 'QDi.953', names: ['ANOTHER', 'UNRELATED'] }]);
    await rescreenDue(api.issuing);
    const after = await expectStatus(call('GET', `/v1/cardholders/${holder.id}`, main.headers), 200);
    expect(after.screening_status).toBe('confirmed_match');
    expect((await verifyLedger(api.db)).ok).toBe(true);
  });
});

describe('what a person decides is what they saw', () => {
  it('follows a rename while an alert is open: clearing it does not clear the listed name', async () => {
    const holder = await createCardholder({
      name: 'Hamid Abd al-Rahman al-Qudsi',
      date_of_birth: '1972-08-14',
    });
    const first = await openAlertOf(String(holder.id));
    await expectStatus(
      call('PATCH', `/v1/cardholders/${String(holder.id)}`, main.headers, { name: 'John Smith' }),
      200,
    );
    const renamed = await openAlertOf(String(holder.id));
    expect(renamed).toMatchObject({ id: first.id, version: Number(first.version) + 1 });
    // The candidates found for the old name stay before the person.
    expect((renamed.candidates as Json[])[0]).toMatchObject({ reference: 'QDi.950' });
    await expectStatus(
      call('POST', `/v1/screening/alerts/${String(first.id)}/clear`, analyst, {
        grounds: 'John Smith, not the listed person',
        version: renamed.version,
      }),
      200,
    );
    const back = await expectStatus(
      call('PATCH', `/v1/cardholders/${String(holder.id)}`, main.headers, {
        name: 'Hamid Abd al-Rahman al-Qudsi',
      }),
      200,
    );
    expect(back.screening_status).toBe('potential_match');
    expect((await openAlertOf(String(holder.id))).id).not.toBe(first.id);
  });

  it('refuses a decision on an alert that changed since it was reviewed', async () => {
    const holder = await createCardholder({
      name: 'Hamid Abd al-Rahman al-Qudsi',
      date_of_birth: '1972-08-14',
    });
    const reviewed = await openAlertOf(String(holder.id));
    // A second name of the same person is added to the list's next version: the re-screen finds it too.
    await loadList([
      LISTED,
      LATER_LISTED,
      { reference: 'QDi.960', names: ['HAMID', 'ABD AL-RAHMAN', 'AL-QUDSI'], dateOfBirth: '1972-08-14' },
    ]);
    await rescreenDue(api.issuing);
    const changed = await openAlertOf(String(holder.id));
    expect(changed.version).toBe(Number(reviewed.version) + 1);
    expect((changed.candidates as Json[]).map((candidate) => candidate.reference)).toEqual(
      expect.arrayContaining(['QDi.950', 'QDi.960']),
    );
    const stale = await expectStatus(
      call('POST', `/v1/screening/alerts/${String(reviewed.id)}/clear`, analyst, {
        grounds: 'Reviewed QDi.950 only',
        version: reviewed.version,
      }),
      409,
    );
    expect(stale).toMatchObject({ error: { code: 'screening_alert_changed', param: 'version' } });
    expect(await openAlertOf(String(holder.id))).toMatchObject({ status: 'open', version: changed.version });
  });

  it('re-screens everyone else when one cardholder cannot be read, and reports that one', async () => {
    const broken = await createCardholder({ name: 'Kwok Ying Ying' });
    const fine = await createCardholder({ name: 'Fung Chi Wai' });
    const original = await api.db.query<{ pii_encrypted: Uint8Array }>(
      'SELECT pii_encrypted FROM cardholders WHERE id = $1',
      [String(broken.id)],
    );
    await api.db.query(`UPDATE cardholders SET pii_encrypted = '\\x00' WHERE id = $1`, [String(broken.id)]);
    try {
      await loadList([LISTED, LATER_LISTED, { reference: 'QDi.970', names: ['SOMEONE', 'ELSE'] }]);
      const progress = await rescreenDue(api.issuing);
      expect(progress).toMatchObject({ failed: [broken.id], completed: false });
      const screened = await api.db.query<{ id: string; due: boolean }>(
        `SELECT id, screened_lists IS DISTINCT FROM $2 AS due FROM cardholders WHERE id = ANY($1::text[]) ORDER BY id`,
        [[String(broken.id), String(fine.id)], progress?.lists ?? ''],
      );
      expect(screened.rows).toEqual([
        { id: broken.id, due: true },
        { id: fine.id, due: false },
      ]);
    } finally {
      await api.db.query('UPDATE cardholders SET pii_encrypted = $2 WHERE id = $1', [
        String(broken.id),
        original.rows[0]?.pii_encrypted ?? null,
      ]);
    }
    expect(await rescreenDue(api.issuing)).toMatchObject({ screened: 1, completed: true });
  });
});

describe('a live programme before any list is loaded', () => {
  it('issues nothing to a cardholder not yet screened, until the re-screen after the first load', async () => {
    const fresh = await openTestApi();
    try {
      const program = await createTestProgram(fresh, { mode: 'live' });
      const sandbox = await createTestProgram(fresh, { mode: 'sandbox' });
      const post = (headers: Headers, url: string, body: Json) =>
        callJson(fresh.app, 'POST', url, headers, body);
      const holder = await post(program.headers, '/v1/cardholders', { name: 'Yip Wai Man' });
      expect(holder.body.screening_status).toBe('not_screened');
      const account = await post(program.headers, '/v1/accounts', {
        cardholder_id: holder.body.id,
        currency: 'HKD',
      });
      const refused = await post(program.headers, '/v1/cards', {
        cardholder_id: holder.body.id,
        account_id: account.body.id,
        type: 'multi_use',
      });
      expect(refused.body).toMatchObject({ error: { code: 'cardholder_not_screened' } });
      // A sandbox works before any list is loaded.
      const tester = await post(sandbox.headers, '/v1/cardholders', { name: 'Sandbox Tester' });
      const testerAccount = await post(sandbox.headers, '/v1/accounts', {
        cardholder_id: tester.body.id,
        currency: 'HKD',
      });
      const sandboxCard = await post(sandbox.headers, '/v1/cards', {
        cardholder_id: tester.body.id,
        account_id: testerAccount.body.id,
        type: 'multi_use',
      });
      expect(sandboxCard.status).toBe(201);

      expect(await rescreenDue(fresh.issuing)).toBeUndefined();
      await loadTestSanctionsList(fresh);
      expect(await rescreenDue(fresh.issuing)).toMatchObject({ screened: 2, alerts: 0, completed: true });
      const issued = await post(program.headers, '/v1/cards', {
        cardholder_id: holder.body.id,
        account_id: account.body.id,
        type: 'multi_use',
      });
      expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    } finally {
      await fresh.close();
    }
  });
});
