import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callJson, openTestApi, type TestApi } from '../../../test/support/app.js';
import { createTestProgram, withoutProtections, type TestProgram } from '../../../test/support/programs.js';
import { verifyAuditChain } from '../../records/audit.js';
import { amlDevices } from '../../processing/aml-devices.js';
import { amlRates } from '../../processing/aml-rates.js';
import { monitorDue } from './monitor.js';
import { validateStrJson, validateStrXml } from './report.js';

/**
 * AML monitoring end to end, on both backends: activity made through the API as a programme would, read by the
 * monitor from the outbox, alerts listing exactly the activity behind them, per cardholder across their cards.
 */

type Json = Record<string, unknown>;
type Headers = Readonly<Record<string, string>>;

const SHOP = {
  name: 'Harbour Electronics',
  mcc: '5732',
  country: 'HK',
  city: 'Hong Kong',
  acceptor_id: 'HEL000000000001',
  acquirer_id: '40000000001',
};

let api: TestApi;
let main: TestProgram;
let people = 0;

const call = (method: 'GET' | 'POST' | 'PATCH', url: string, headers: Headers, body?: Json) =>
  callJson(api.app, method, url, headers, body);

async function created(
  method: 'POST',
  url: string,
  body: Json,
  headers: Headers = main.headers,
): Promise<Json> {
  const answer = await call(method, url, headers, body);
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return answer.body;
}

async function cardholder(): Promise<{ id: string; account: string }> {
  people += 1;
  const holder = await created('POST', '/v1/cardholders', { name: `Monitored Person ${String(people)}` });
  const account = await created('POST', '/v1/accounts', { cardholder_id: holder.id, currency: 'HKD' });
  return { id: String(holder.id), account: String(account.id) };
}

async function card(holder: { id: string; account: string }): Promise<string> {
  const issued = await created('POST', '/v1/cards', {
    cardholder_id: holder.id,
    account_id: holder.account,
    type: 'multi_use',
  });
  return String(issued.id);
}

async function load(account: string, amount: number): Promise<string> {
  return String((await created('POST', `/v1/accounts/${account}/loads`, { amount, currency: 'HKD' })).id);
}

async function alertsOf(cardholderId: string): Promise<Json[]> {
  const list = await call('GET', `/v1/aml/alerts?cardholder_id=${cardholderId}`, api.operatorHeaders);
  expect(list.status).toBe(200);
  return list.body.data as Json[];
}

const HOUR_MS = 3_600_000;

beforeAll(async () => {
  api = await openTestApi();
  main = await withoutProtections(api, await createTestProgram(api));
});
afterAll(async () => api.close());

describe('AML monitoring', () => {
  it('finds loads structured under HKD 8,000 across a cardholder’s wallets, and not across unrelated people', async () => {
    const structurer = await cardholder();
    const usd = await created('POST', '/v1/accounts', { cardholder_id: structurer.id, currency: 'USD' });
    const loads: string[] = [];
    for (const amount of [7_600_00, 7_850_00, 7_990_00]) {
      loads.push(await load(structurer.account, amount));
      api.clock.advance(5 * HOUR_MS);
    }
    // Money in another currency and an ordinary top-up are not part of it.
    await created('POST', `/v1/accounts/${String(usd.id)}/loads`, { amount: 100_00, currency: 'USD' });
    await load(structurer.account, 500_00);
    const unrelated: string[] = [];
    for (const amount of [7_600_00, 7_850_00, 7_990_00]) {
      const person = await cardholder();
      unrelated.push(person.id);
      await load(person.account, amount);
    }

    const first = await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    expect(first.alerts).toBeGreaterThanOrEqual(1);
    const alerts = await alertsOf(structurer.id);
    const structuring = alerts.filter((alert) => alert.scenario === 'structuring');
    expect(structuring).toHaveLength(1);
    expect(structuring[0]).toMatchObject({ object: 'aml_alert', settings_version: 0 });
    expect(structuring[0]?.case_id).toMatch(/^case_/);
    expect([...(structuring[0]?.activity as string[])].sort()).toEqual([...loads].sort());
    for (const person of unrelated) expect(await alertsOf(person)).toEqual([]);

    // Read again (a replayed outbox, or more events for the same cardholder), nothing is raised twice.
    await load(structurer.account, 200_00);
    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    expect((await alertsOf(structurer.id)).filter((alert) => alert.scenario === 'structuring')).toHaveLength(
      1,
    );
  });

  it('finds cards rotated by one cardholder, and not the same number of cards among several people', async () => {
    const rotator = await cardholder();
    const cards: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      cards.push(await card(rotator));
      api.clock.advance(HOUR_MS);
    }
    const others: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      const person = await cardholder();
      others.push(person.id);
      await card(person);
    }
    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    const rotation = (await alertsOf(rotator.id)).filter((alert) => alert.scenario === 'card_rotation');
    expect(rotation).toHaveLength(1);
    expect([...(rotation[0]?.activity as string[])].sort()).toEqual([...cards].sort());
    for (const person of others) expect(await alertsOf(person)).toEqual([]);
  });

  it('keeps versioned scenario settings, refusing an unknown parameter whole', async () => {
    const url = `/v1/programs/${main.program.id}/aml_scenarios`;
    const before = await call('GET', url, api.operatorHeaders);
    expect(before.body).toMatchObject({ object: 'aml_scenario_settings', version: 0 });

    const unknown = await call('POST', url, api.operatorHeaders, {
      structuring: { count_min: 4, split_under: 2 },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error: { code: 'scenario_parameter_invalid' } });
    const noScenario = await call('POST', url, api.operatorHeaders, { smurfing: { enabled: true } });
    expect(noScenario.body).toMatchObject({ error: { code: 'scenario_unknown' } });
    expect((await call('GET', url, api.operatorHeaders)).body).toMatchObject({ version: 0 });

    const changed = await call('POST', url, api.operatorHeaders, { card_rotation: { created_count_min: 3 } });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body).toMatchObject({
      version: 1,
      scenarios: { card_rotation: { created_count_min: 3 } },
    });
    // Programmes do not read or change the issuer's monitoring.
    expect((await call('GET', url, main.headers)).status).toBe(403);

    const person = await cardholder();
    const three = [await card(person), await card(person), await card(person)];
    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    const [alert] = (await alertsOf(person.id)).filter((found) => found.scenario === 'card_rotation');
    expect(alert).toMatchObject({ settings_version: 1 });
    expect([...(alert?.activity as string[])].sort()).toEqual([...three].sort());
  });

  it('works a case: assign, comment, attach, pause the cards, escalate, report; each step audited under the analyst', async () => {
    const user = await call('POST', '/v1/operator_users', api.operatorHeaders, {
      name: 'Chan Wing Sze',
      email: 'aml.analyst@lantau.example',
      role: 'analyst',
    });
    expect(user.status).toBe(201);
    const analyst = { authorization: `Bearer ${String(user.body.secret)}` };
    const analystId = String(user.body.id);

    const subject = await cardholder();
    const subjectCard = await card(subject);
    for (const amount of [7_700_00, 7_800_00, 7_900_00]) {
      await load(subject.account, amount);
      api.clock.advance(HOUR_MS);
    }
    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    const [alert] = await alertsOf(subject.id);
    const caseId = String(alert?.case_id);
    const url = `/v1/aml/cases/${caseId}`;
    const detail = await call('GET', url, api.operatorHeaders);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ case: { status: 'open', cardholder_id: subject.id }, notes: [] });
    expect((detail.body.alerts as Json[]).map((found) => found.id)).toEqual([alert?.id]);

    // A bare key is not a person; a programme does not see the issuer's cases.
    const byKey = await call('POST', `${url}/comments`, api.operatorHeaders, { body: 'Looking into it' });
    expect(byKey.body).toMatchObject({ error: { code: 'operator_user_required' } });
    expect((await call('GET', url, main.headers)).status).toBe(403);

    expect((await call('POST', `${url}/assign`, analyst, { assignee: analystId })).body).toMatchObject({
      assignee: analystId,
    });
    expect(
      (await call('POST', `${url}/comments`, analyst, { body: 'Three loads just under HKD 8,000' })).status,
    ).toBe(201);
    const attached = await call('POST', `${url}/attachments`, analyst, {
      filename: 'bank-statement.pdf',
      content_type: 'application/pdf',
      content_base64: Buffer.from('%PDF-1.4 statement').toString('base64'),
    });
    expect(attached.status).toBe(201);
    const paused = await call('POST', `${url}/pause_cards`, analyst);
    expect(paused.body).toMatchObject({ paused_cards: [subjectCard] });
    const cardNow = await call('GET', `/v1/cards/${subjectCard}`, main.headers);
    expect(cardNow.body).toMatchObject({ status: 'paused', status_reason: 'compliance' });

    const current = (await call('GET', url, analyst)).body.case as Json;
    const version = Number(current.version);
    // No grounds, or a stale version: refused, nothing changes.
    const noGrounds = await call('POST', `${url}/decision`, analyst, {
      decision: 'reported',
      grounds: ' ',
      version,
    });
    expect(noGrounds.body).toMatchObject({ error: { code: 'grounds_required' } });
    const stale = await call('POST', `${url}/decision`, analyst, {
      decision: 'reported',
      grounds: 'Structuring',
      version: version - 1,
    });
    expect(stale.body).toMatchObject({ error: { code: 'aml_case_changed' } });
    expect(((await call('GET', url, analyst)).body.case as Json).status).toBe('open');

    const escalated = await call('POST', `${url}/decision`, analyst, {
      decision: 'escalated',
      grounds: 'Needs the MLRO',
      version,
    });
    expect(escalated.body).toMatchObject({ status: 'escalated', grounds: null });
    const notes = (await call('GET', url, analyst)).body.notes as Json[];
    expect(notes.map((note) => note.text)).toContain('Escalated: Needs the MLRO');
    const reportBody = {
      decision: 'reported',
      grounds: 'Three loads of HKD 7,700–7,900 within two hours, just under the HKD 8,000 threshold',
      version: Number(escalated.body.version),
    };
    const unlicensed = await call('POST', `${url}/decision`, analyst, reportBody);
    expect(unlicensed.body).toMatchObject({ error: { code: 'licence_number_unset' } });
    const licensed = await call('PATCH', `/v1/programs/${main.program.id}`, api.operatorHeaders, {
      metadata: { svf_licence_number: 'SVF0099' },
    });
    expect(licensed.status, JSON.stringify(licensed.body)).toBe(200);
    const reported = await call('POST', `${url}/decision`, analyst, reportBody);
    expect(reported.body).toMatchObject({ status: 'reported', reported: true, decided_by: analystId });

    const json = await call('GET', `${url}/report`, analyst);
    expect(json.status).toBe(200);
    expect(validateStrJson(json.body)).toEqual([]);
    expect(json.body).toMatchObject({ reporting_entity: { licence_number: 'SVF0099' } });
    const xml = await api.app.inject({ method: 'GET', url: `${url}/report?format=xml`, headers: analyst });
    expect(xml.headers['content-type']).toContain('application/xml');
    expect(validateStrXml(xml.body)).toEqual([]);

    const trail = await api.db.query<{ action: string; actor_type: string; actor_id: string }>(
      `SELECT action, actor_type, actor_id FROM audit_log WHERE target_id = $1 ORDER BY seq`,
      [caseId],
    );
    expect(trail.rows.map((row) => row.action)).toEqual([
      'aml_case.assigned',
      'aml_case.commented',
      'aml_case.attached',
      'aml_case.cards_paused',
      'aml_case.escalated',
      'aml_case.reported',
      'aml_case.report_read',
      'aml_case.report_read',
    ]);
    for (const row of trail.rows) expect(row).toMatchObject({ actor_type: 'user', actor_id: analystId });
    const reads = await api.db.query<{ actor_id: string }>(
      `SELECT actor_id FROM audit_log WHERE action = 'aml_case.report_read' AND target_id = $1`,
      [caseId],
    );
    expect(reads.rows).toEqual([{ actor_id: analystId }, { actor_id: analystId }]);
    expect((await verifyAuditChain(api.db)).ok).toBe(true);
    // Neither the grounds nor the report's particulars are in any table in the clear.
    const stored = await api.db.query<{ row: string }>('SELECT row_to_json(c)::text AS row FROM aml_cases c');
    expect(stored.rows.map((row) => row.row).join('\n')).not.toContain('just under the HKD 8,000');
  });

  it('finds many cardholders on one device, and not the same number of people on their own devices', async () => {
    const sharing: { id: string; card: string }[] = [];
    const apart: { id: string; card: string }[] = [];
    for (let index = 0; index < 4; index += 1) {
      for (const group of [sharing, apart]) {
        const person = await cardholder();
        await load(person.account, 1_000_00);
        group.push({ id: person.id, card: await card(person) });
      }
    }
    const authorizations = new Map<string, string>();
    for (const [index, person] of sharing.entries()) {
      const decided = await created('POST', '/v1/simulate/authorizations', {
        card_id: person.card,
        amount: 12_00,
        currency: 'HKD',
        merchant: { ...SHOP, mcc: '5812' },
        entry_mode: 'ecommerce',
        device_id: 'device-shared-0001',
      });
      expect(decided.approved, JSON.stringify(decided)).toBe(true);
      authorizations.set(person.id, String(decided.id));
      api.clock.advance(HOUR_MS * (index + 1));
    }
    for (const [index, person] of apart.entries()) {
      await created('POST', '/v1/simulate/authorizations', {
        card_id: person.card,
        amount: 12_00,
        currency: 'HKD',
        merchant: { ...SHOP, mcc: '5812' },
        entry_mode: 'ecommerce',
        device_id: `device-own-${String(index)}`,
      });
    }
    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    for (const person of sharing) {
      const shared = (await alertsOf(person.id)).filter((alert) => alert.scenario === 'shared_device');
      expect(shared).toHaveLength(1);
      expect([...(shared[0]?.activity as string[])].sort()).toEqual([...authorizations.values()].sort());
    }
    for (const person of apart) {
      expect((await alertsOf(person.id)).filter((alert) => alert.scenario === 'shared_device')).toEqual([]);
    }
  });

  it('sees money added by an increment, and a pattern read days later by a monitor catching up', async () => {
    const mover = await cardholder();
    const moverCard = await card(mover);
    const big = await load(mover.account, 60_000_00);
    const small = await created('POST', '/v1/simulate/authorizations', {
      card_id: moverCard,
      amount: 1_00,
      currency: 'HKD',
      merchant: SHOP,
    });
    const increment = await call(
      'POST',
      `/v1/simulate/authorizations/${String(small.id)}/increment`,
      main.headers,
      {
        amount: 58_999_00,
      },
    );
    expect(increment.status, JSON.stringify(increment.body)).toBe(200);
    expect(increment.body).toMatchObject({ approved_amount: 59_000_00 });

    // Loads structured on one day, then a quiet week with one small load, all read in one go.
    const structurer = await cardholder();
    const loads: string[] = [];
    for (const amount of [7_500_00, 7_700_00, 7_900_00]) {
      loads.push(await load(structurer.account, amount));
      api.clock.advance(HOUR_MS);
    }
    api.clock.advance(10 * 24 * HOUR_MS);
    await load(structurer.account, 100_00);

    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    const moved = (await alertsOf(mover.id)).filter((alert) => alert.scenario === 'rapid_movement');
    expect(moved).toHaveLength(1);
    expect([...(moved[0]?.activity as string[])].sort()).toEqual([big, String(small.id)].sort());
    const structured = (await alertsOf(structurer.id)).filter((alert) => alert.scenario === 'structuring');
    expect(structured.map((alert) => [...(alert.activity as string[])].sort())).toEqual([[...loads].sort()]);
  });
});

describe('AML monitoring: currencies, refused loads, onboarding devices, settings', () => {
  it("adds a cardholder's HKD and USD wallets together in HKD, at the operator's rate", async () => {
    const rate = await call('POST', '/v1/fx_rates', api.operatorHeaders, {
      base: 'USD',
      quote: 'HKD',
      rate: '7.8',
      source: 'operator',
    });
    expect(rate.status, JSON.stringify(rate.body)).toBe(201);
    api.clock.advance(HOUR_MS);
    const person = await cardholder();
    const usd = await created('POST', '/v1/accounts', { cardholder_id: person.id, currency: 'USD' });
    const loads = [
      await load(person.account, 7_600_00),
      // USD 990: HKD 7,722, just under HKD 8,000 too.
      String(
        (
          await created('POST', `/v1/accounts/${String(usd.id)}/loads`, {
            amount: 990_00,
            currency: 'USD',
          })
        ).id,
      ),
      await load(person.account, 7_900_00),
    ];
    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    const structuring = (await alertsOf(person.id)).filter((alert) => alert.scenario === 'structuring');
    expect(structuring).toHaveLength(1);
    expect([...(structuring[0]?.activity as string[])].sort()).toEqual([...loads].sort());
    expect(structuring[0]?.summary).toContain('HKD 23,222.00 in all');
  });

  it('sees loads refused at the KYC cap, once per refused request', async () => {
    const capped = await withoutProtections(api, await createTestProgram(api, {}, { kyc: 'defaults' }));
    const holder = await created('POST', '/v1/cardholders', { name: 'Capped Person' }, capped.headers);
    const account = await created(
      'POST',
      '/v1/accounts',
      { cardholder_id: holder.id, currency: 'HKD' },
      capped.headers,
    );
    const loadsUrl = `/v1/accounts/${String(account.id)}/loads`;
    await created('POST', loadsUrl, { amount: 2_500_00, currency: 'HKD' }, capped.headers);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const headers = { ...capped.headers, 'idempotency-key': `refused-${String(attempt)}` };
      for (let retry = 0; retry < 2; retry += 1) {
        const refused = await call('POST', loadsUrl, headers, { amount: 1_000_00, currency: 'HKD' });
        expect(refused.status).toBe(400);
        expect(refused.body).toMatchObject({ error: { code: 'kyc_balance_limit_exceeded' } });
      }
      api.clock.advance(24 * HOUR_MS);
    }
    const declined = await api.db.query<{ object: Json }>(
      `SELECT data->'object' AS object FROM events WHERE type = 'account.load_declined' AND program_id = $1`,
      [capped.program.id],
    );
    // One per request: the retries under the same key were answered from the first refusal.
    expect(declined.rows).toHaveLength(3);
    expect(declined.rows[0]?.object).toMatchObject({
      object: 'account_load_decline',
      cardholder_id: holder.id,
      amount: 1_000_00,
      decline_reason: 'kyc_balance_limit_exceeded',
    });
    expect(JSON.stringify(declined.rows)).not.toContain('Capped Person');

    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    const probing = (await alertsOf(String(holder.id))).filter(
      (alert) => alert.scenario === 'tier_limit_probing',
    );
    expect(probing).toHaveLength(1);
    expect(probing[0]).toMatchObject({ reason: 'loads_refused_at_cap' });
    expect([...(probing[0]?.activity as string[])].sort()).toEqual(
      declined.rows.map((row) => String(row.object.id)).sort(),
    );

    // Reported, the package lists the attempts, the subject's occupation and the institution's particulars.
    const user = await call('POST', '/v1/operator_users', api.operatorHeaders, {
      name: 'Lee Ka Ho',
      email: 'aml.reporter@lantau.example',
      role: 'analyst',
    });
    const analyst = { authorization: `Bearer ${String(user.body.secret)}` };
    const job = await call('PATCH', `/v1/cardholders/${String(holder.id)}`, capped.headers, {
      occupation: 'Logistics clerk',
    });
    expect(job.status, JSON.stringify(job.body)).toBe(200);
    const particulars = await call('PATCH', `/v1/programs/${capped.program.id}`, api.operatorHeaders, {
      metadata: {
        svf_licence_number: 'SVF0100',
        institution_name: 'Lantau Stored Value Ltd',
        institution_address: '1 Harbour Road, Wan Chai, Hong Kong',
        institution_contact_phone: '+852 2123-4567',
      },
    });
    expect(particulars.status, JSON.stringify(particulars.body)).toBe(200);
    const caseUrl = `/v1/aml/cases/${String(probing[0]?.case_id)}`;
    const opened = await call('GET', caseUrl, analyst);
    const reported = await call('POST', `${caseUrl}/decision`, analyst, {
      decision: 'reported',
      grounds: 'Three loads refused at the unverified cap within three days',
      version: Number((opened.body.case as Json).version),
    });
    expect(reported.status, JSON.stringify(reported.body)).toBe(200);
    const report = await call('GET', `${caseUrl}/report`, analyst);
    expect(validateStrJson(report.body)).toEqual([]);
    expect(report.body).toMatchObject({
      reporting_entity: {
        name: 'Lantau Stored Value Ltd',
        address: '1 Harbour Road, Wan Chai, Hong Kong',
        contact_phone: '+85221234567',
      },
      subject: { occupation: 'Logistics clerk' },
    });
    const listed = report.body.transactions as Json[];
    expect(listed.map((each) => each.kind)).toEqual(['load_declined', 'load_declined', 'load_declined']);
    const xml = await api.app.inject({
      method: 'GET',
      url: `${caseUrl}/report?format=xml`,
      headers: analyst,
    });
    expect(validateStrXml(xml.body)).toEqual([]);
  });

  it('counts cardholders onboarded from one device, and not four on one IP address', async () => {
    const ring: string[] = [];
    const office: string[] = [];
    for (let index = 0; index < 4; index += 1) {
      const onPhone = await created('POST', '/v1/cardholders', {
        name: `Ring Member ${String(index)}`,
        device_id: 'phone-ring-0001',
      });
      ring.push(String(onPhone.id));
      const atDesk = await created('POST', '/v1/cardholders', {
        name: `Office Worker ${String(index)}`,
        ip_address: '203.0.113.7',
      });
      office.push(String(atDesk.id));
      api.clock.advance(HOUR_MS);
    }
    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    for (const id of ring) {
      const shared = (await alertsOf(id)).filter((alert) => alert.scenario === 'shared_device');
      expect(shared).toHaveLength(1);
      expect(shared[0]).toMatchObject({ reason: 'many_cardholders_on_device' });
      expect([...(shared[0]?.activity as string[])].sort()).toEqual(
        ring.map((each) => `${each}:device`).sort(),
      );
    }
    for (const id of office) expect(await alertsOf(id)).toEqual([]);
    // The office's address was recorded, as an IP address: four are below the bar for one.
    const recorded = await api.db.query<{ id: string; device_kind: string }>(
      `SELECT id, device_kind FROM aml_activity WHERE kind = 'onboarding' AND cardholder_id = ANY($1::text[])`,
      [office],
    );
    expect(recorded.rows.map((row) => [row.id, row.device_kind]).sort()).toEqual(
      office.map((id) => [`${id}:ip`, 'ip']).sort(),
    );

    // A payment that came with only an IP address is stored as one, and read as one.
    const payer = await cardholder();
    const payerCard = await card(payer);
    await load(payer.account, 100_00);
    const paid = await created('POST', '/v1/simulate/authorizations', {
      card_id: payerCard,
      amount: 10_00,
      currency: 'HKD',
      merchant: SHOP,
      entry_mode: 'ecommerce',
      ip_address: '203.0.113.7',
    });
    const stored = await api.db.query<{ device_kind: string }>(
      'SELECT device_kind FROM authorizations WHERE id = $1',
      [String(paid.id)],
    );
    expect(stored.rows).toEqual([{ device_kind: 'ip' }]);
    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    const read = await api.db.query<{ device_kind: string; device_key: Uint8Array }>(
      `SELECT device_kind, device_key FROM aml_activity WHERE kind = 'authorization' AND id = $1`,
      [String(paid.id)],
    );
    expect(read.rows[0]?.device_kind).toBe('ip');
    // The same address the office gave at onboarding: one key for both.
    const officeKey = await api.db.query<{ device_key: Uint8Array }>(
      `SELECT device_key FROM aml_activity WHERE kind = 'onboarding' AND id = $1`,
      [`${office[0] ?? ''}:ip`],
    );
    expect(Buffer.from(read.rows[0]?.device_key ?? []).toString('hex')).toBe(
      Buffer.from(officeKey.rows[0]?.device_key ?? []).toString('hex'),
    );
  });

  it('raises a pattern once when a subject has more activity than one evaluation reads', async () => {
    const busy = await cardholder();
    const loads: string[] = [];
    let capped = 0;
    let raised = 0;
    for (const amount of [7_600_00, 7_700_00, 7_800_00, 7_850_00, 7_900_00, 7_950_00]) {
      loads.push(await load(busy.account, amount));
      api.clock.advance(HOUR_MS);
      const done = await monitorDue({
        ...api.issuing,
        devices: amlDevices,
        rates: amlRates,
        activityReadMax: 4,
      });
      capped += done.capped;
      raised += done.alerts;
    }
    // Raised when the first three were read; later reads, cut to the latest four, see the pattern begin later with
    // other loads in it, and do not raise it again.
    expect(capped).toBeGreaterThan(0);
    const structuring = (await alertsOf(busy.id)).filter((alert) => alert.scenario === 'structuring');
    expect(structuring.map((alert) => [...(alert.activity as string[])].sort())).toEqual([
      loads.slice(0, 3).sort(),
    ]);
    expect(raised).toBe(1);
  });

  it('keeps a currency taken out of the settings out, and watches the reporting currency named', async () => {
    const other = await withoutProtections(api, await createTestProgram(api));
    const url = `/v1/programs/${other.program.id}/aml_scenarios`;
    const changed = await call('POST', url, api.operatorHeaders, {
      reporting_currency: 'USD',
      structuring: { thresholds: { HKD: null, USD: [1_000_00] } },
      rapid_movement: {
        load_amount_min: { HKD: null, USD: 500_00 },
        load_amount_large: { HKD: null, USD: 6_000_00 },
      },
      cross_border: { foreign_amount_min: { HKD: null, USD: 6_000_00 } },
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    const read = await call('GET', url, api.operatorHeaders);
    expect(read.body).toMatchObject({
      version: 1,
      scenarios: { reporting_currency: 'USD', structuring: { thresholds: { USD: [1_000_00] } } },
    });
    expect(
      (read.body.scenarios as { structuring: { thresholds: Json } }).structuring.thresholds,
    ).not.toHaveProperty('HKD');
    const bad = await call('POST', url, api.operatorHeaders, { reporting_currency: 'dollars' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      error: { code: 'scenario_parameter_invalid', param: 'reporting_currency' },
    });

    // HKD 7,600 to 7,990 is no longer watched in HKD; nor in USD, with no HKD to USD rate.
    const holder = await created('POST', '/v1/cardholders', { name: 'Reporting Person' }, other.headers);
    const account = await created(
      'POST',
      '/v1/accounts',
      { cardholder_id: holder.id, currency: 'HKD' },
      other.headers,
    );
    for (const amount of [7_600_00, 7_850_00, 7_990_00]) {
      await created(
        'POST',
        `/v1/accounts/${String(account.id)}/loads`,
        { amount, currency: 'HKD' },
        other.headers,
      );
    }
    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    expect(await alertsOf(String(holder.id))).toEqual([]);
  });
});

describe('AML scenario backtests', () => {
  it('shows the alerts a change would raise beside the current settings’, changing nothing', async () => {
    const tried = await withoutProtections(api, await createTestProgram(api));
    const pattern = async (name: string, amounts: readonly number[]): Promise<string> => {
      const holder = await created('POST', '/v1/cardholders', { name }, tried.headers);
      const account = await created(
        'POST',
        '/v1/accounts',
        { cardholder_id: holder.id, currency: 'HKD' },
        tried.headers,
      );
      for (const amount of amounts) {
        await created(
          'POST',
          `/v1/accounts/${String(account.id)}/loads`,
          { amount, currency: 'HKD' },
          tried.headers,
        );
        api.clock.advance(5 * HOUR_MS);
      }
      return String(holder.id);
    };
    const three = await pattern('Three Loads', [7_600_00, 7_850_00, 7_990_00]);
    const two = await pattern('Two Loads', [7_700_00, 7_900_00]);
    await monitorDue({ ...api.issuing, devices: amlDevices, rates: amlRates });
    const alertsBefore = await api.db.query('SELECT id FROM aml_alerts');

    const url = `/v1/programs/${tried.program.id}/aml_scenarios/backtest`;
    const backtest = await call('POST', url, api.operatorHeaders, {
      scenarios: { structuring: { count_min: 2 } },
    });
    expect(backtest.status, JSON.stringify(backtest.body)).toBe(200);
    expect(backtest.body).toMatchObject({
      object: 'aml_scenario_backtest',
      current_version: 0,
      proposed: { structuring: { count_min: 2 } },
      cardholders_evaluated: 2,
    });
    const structuring = (backtest.body.scenarios as Json[]).find((each) => each.scenario === 'structuring');
    expect(structuring).toEqual({
      scenario: 'structuring',
      current: { alerts: 1, cardholders: 1 },
      proposed: { alerts: 3, cardholders: 2 },
    });
    // With two enough, the pattern of three begins a load earlier (a new alert of its first two), the three become a
    // linked-amounts alert of their own, and the cardholder with two is alerted.
    const brief = (list: unknown) =>
      (list as Json[]).map((each) => [each.cardholder_id, each.reason, (each.activity as string[]).length]);
    expect(brief(backtest.body.added)).toEqual([
      [three, 'loads_just_under_threshold', 2],
      [three, 'linked_loads_reach_threshold', 3],
      [two, 'loads_just_under_threshold', 2],
    ]);
    expect(brief(backtest.body.removed)).toEqual([[three, 'loads_just_under_threshold', 3]]);
    // The current settings' alert is the one the monitor raised.
    const raised = (await alertsOf(three)).filter((alert) => alert.scenario === 'structuring');
    expect(raised).toHaveLength(1);

    const tighter = await call('POST', url, api.operatorHeaders, {
      scenarios: { structuring: { enabled: false } },
    });
    expect((tighter.body.removed as Json[]).map((each) => each.cardholder_id)).toEqual([three]);

    const unknown = await call('POST', url, api.operatorHeaders, {
      scenarios: { structuring: { count: 2 } },
    });
    expect(unknown.body).toMatchObject({ error: { code: 'scenario_parameter_invalid' } });
    const long = await call('POST', url, api.operatorHeaders, {
      from: '2020-01-01T00:00:00Z',
      to: '2020-03-01T00:00:00Z',
    });
    expect(long.body).toMatchObject({ error: { code: 'backtest_range_invalid' } });
    expect((await call('POST', url, tried.headers, {})).status).toBe(403);
    expect((await api.db.query('SELECT id FROM aml_alerts')).rows).toEqual(alertsBefore.rows);
    expect(
      (await call('GET', `/v1/programs/${tried.program.id}/aml_scenarios`, api.operatorHeaders)).body,
    ).toMatchObject({ version: 0 });
  });
});
