import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from '../../../test/support/app.js';
import { createTestProgram } from '../../../test/support/programs.js';
import { loadTestSanctionsList } from '../../../test/support/sanctions.js';
import { LantauError } from '../../platform/errors.js';
import { latestVersions, listVersions } from './list-store.js';
import { loadSanctionsFile } from './load.js';
import { listKeyOf, screenerFor } from './screening.js';

/** Lists loaded as `lantau sanctions load` loads them, and screened through the API, on both backends. */

const SANCTIONS = new URL('../../../../shared/data/sanctions/', import.meta.url);
const UN = readFileSync(new URL('un-consolidated-2020-11-30.xml', SANCTIONS));
const OFAC = readFileSync(new URL('ofac-sdn-2024-05-03.csv', SANCTIONS));
const BY = { type: 'cli', id: 'test' } as const;

let api: TestApi;
beforeAll(async () => {
  api = await openTestApi();
});
afterAll(async () => api.close());

async function check(body: object) {
  const response = await api.app.inject({
    method: 'POST',
    url: '/v1/screening/checks',
    headers: { ...api.operatorHeaders },
    payload: body,
  });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
}

describe('sanctions lists and screening', () => {
  it('answers 503 while no list is loaded', async () => {
    expect((await check({ name: 'Ri Won Ho' })).status).toBe(503);
  });

  it('loads both lists as versions, once each, and finds a listed person in an altered form', async () => {
    const un = await loadSanctionsFile(api.issuing, UN, BY);
    const ofac = await loadSanctionsFile(api.issuing, OFAC, BY);
    expect(un).toMatchObject({ created: true, version: { list: 'un', entry_count: 1_018 } });
    expect(ofac).toMatchObject({ created: true, version: { list: 'ofac', entry_count: 14_965 } });
    const again = await loadSanctionsFile(api.issuing, UN, BY);
    expect(again).toMatchObject({ created: false, version: { id: un.version.id } });

    const found = await check({ name: 'won-ho RI', date_of_birth: '1964-07-17', country: 'KP' });
    expect(found.status).toBe(200);
    expect(found.body.decision).toBe('potential_match');
    const candidates = found.body.candidates as { list: string; reference: string; score: number }[];
    // Listed by both the UN and OFAC: each list's entry is a candidate.
    expect(candidates.map((candidate) => `${candidate.list}:${candidate.reference}`)).toContain('un:KPi.033');
    expect(found.body.lists).toEqual([
      { list: 'ofac', version: ofac.version.id, entry_count: 14_965 },
      { list: 'un', version: un.version.id, entry_count: 1_018 },
    ]);

    const ordinary = await check({ name: 'Chan Tai Man', date_of_birth: '1985-03-02', country: 'HK' });
    expect(ordinary.body).toMatchObject({ decision: 'clear' });
  });

  it('screens cardholders against the real lists when they are created', async () => {
    const program = await createTestProgram(api);
    const create = async (body: object) => {
      const response = await api.app.inject({
        method: 'POST',
        url: '/v1/cardholders',
        headers: program.headers,
        payload: body,
      });
      expect(response.statusCode, response.body).toBe(201);
      return response.json<{ id: string; screening_status: string }>();
    };
    const listed = await create({ name: 'RI, Won-ho', date_of_birth: '1964-07-17', nationality: 'KP' });
    expect(listed.screening_status).toBe('potential_match');
    const alerts = await api.app.inject({
      method: 'GET',
      url: `/v1/screening/alerts?cardholder_id=${listed.id}`,
      headers: program.headers,
    });
    const [alert] = alerts.json<{ data: { candidates: { list: string; reference: string }[] }[] }>().data;
    expect(alert?.candidates.map((c) => `${c.list}:${c.reference}`)).toContain('un:KPi.033');
    for (const name of ['Chan Tai Man', 'Wong Siu Fong', 'Lee Chi Keung', 'Muhammad Tariq', 'Kim Min-jun']) {
      expect((await create({ name, date_of_birth: '1988-04-12', nationality: 'HK' })).screening_status).toBe(
        'clear',
      );
    }
  });

  it('refuses a malformed file whole, naming where it is wrong, and keeps the version in use', async () => {
    const before = await latestVersions(api.db);
    const broken = Buffer.from(UN.toString('utf8').slice(0, 20_000));
    const refused = await loadSanctionsFile(api.issuing, broken, BY).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LantauError);
    expect((refused as LantauError).message).toMatch(/line \d+/);
    const wrongRow = Buffer.from('36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA"\n');
    const refusedCsv = await loadSanctionsFile(api.issuing, wrongRow, BY).catch((error: unknown) => error);
    expect(refusedCsv).toBeInstanceOf(LantauError);
    expect(await latestVersions(api.db)).toEqual(before);
    expect((await listVersions(api.db)).length).toBe(2);
  });
});

describe('a load racing a screening', () => {
  // PGlite has one connection: transactions cannot overlap there, so there is no race to test.
  it('waits for a screening in flight, so the re-screen after the load sees what it stored', async () => {
    const db = api.db;
    if (db.backend === 'pglite') return;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let screenedAgainst = '';
    let screening: Promise<void> = Promise.resolve();
    const started = new Promise<void>((ready) => {
      screening = db.transaction(async (tx) => {
        screenedAgainst = (await screenerFor(tx, db)).key;
        ready();
        await gate;
      });
    });
    await started;
    const load = { done: false };
    const loading = loadTestSanctionsList(api, [{ reference: 'QDi.990', names: ['RACING', 'LOAD'] }]).then(
      (result) => {
        load.done = true;
        return result;
      },
    );
    // Until the load is seen waiting on the list lock (a query per turn, no timers), or it finished without waiting.
    let waited = false;
    for (let turn = 0; turn < 20_000 && !waited && !load.done; turn += 1) {
      const waiting = await db.query<{ waiting: number }>(
        `SELECT count(*)::int AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
      );
      waited = (waiting.rows[0]?.waiting ?? 0) > 0;
    }
    const loadedWhileScreening = load.done;
    release();
    await screening;
    expect(waited).toBe(true);
    expect(loadedWhileScreening).toBe(false);
    const { version } = await loading;
    expect(screenedAgainst).not.toContain(version.id);
    expect(listKeyOf(await latestVersions(db))).toContain(version.id);
  });
});
