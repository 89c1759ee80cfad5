import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCliDatabase, type CliDatabase } from '../support/cli.js';
import { startLantau } from '../support/serve.js';

const SANDBOX_KEY = 'sk_test_pan_at_rest_0123456789abcdefghij';
const CARDS = 5;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? filesUnder(file) : [file];
  });
}

/**
 * Issue 5's "no plaintext PAN anywhere": a real server issues and reveals cards, then every table's raw contents,
 * every file of the embedded database and every line the server logged (at debug level) are searched for each
 * card number, whole and in its display groups of four.
 */
describe('card numbers at rest', () => {
  let cli: CliDatabase;
  beforeAll(async () => {
    cli = await openCliDatabase();
  });
  afterAll(async () => cli.close());

  it('appear in no table, no database file and no log line', async () => {
    const { pans, output } = await cli.exclusive(async () => {
      const server = await startLantau({
        ...cli.env,
        PORT: '0',
        LANTAU_HOST: '127.0.0.1',
        LOG_LEVEL: 'debug',
        LANTAU_SANDBOX: 'true',
        LANTAU_SANDBOX_SECRET_KEY: SANDBOX_KEY,
      });
      try {
        const call = async (method: string, url: string, body?: unknown) => {
          const response = await fetch(`${server.url}${url}`, {
            method,
            headers: { authorization: `Bearer ${SANDBOX_KEY}`, 'content-type': 'application/json' },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          const json = (await response.json()) as Record<string, unknown>;
          if (response.status >= 300)
            throw new Error(`${method} ${url}: ${response.status} ${JSON.stringify(json)}`);
          return json;
        };
        const holder = await call('POST', '/v1/cardholders', {
          name: 'Wong Siu Ming',
          email: 'siu.ming@example.com',
          phone_number: '+85298765432',
          date_of_birth: '1985-07-01',
          nationality: 'HK',
          address: { line1: '88 Nathan Road', city: 'Kowloon', country: 'HK' },
        });
        const account = await call('POST', '/v1/accounts', { cardholder_id: holder.id, currency: 'HKD' });
        const numbers: string[] = [];
        for (let index = 0; index < CARDS; index += 1) {
          const card = await call('POST', '/v1/cards', {
            cardholder_id: holder.id,
            account_id: account.id,
            type: 'multi_use',
          });
          await call('GET', `/v1/cards/${String(card.id)}`);
          const details = await call('POST', `/v1/cards/${String(card.id)}/reveal`);
          numbers.push(String(details.pan));
          const session = await call('POST', `/v1/cards/${String(card.id)}/reveal_sessions`);
          const page = await fetch(String(session.url));
          expect(page.status).toBe(200);
        }
        // A request that carries a card number where none belongs: refused, and the log must not keep it.
        await fetch(`${server.url}/v1/cards?cardholder_id=${numbers[0] ?? ''}`, {
          headers: { authorization: `Bearer ${SANDBOX_KEY}` },
        });
        return { pans: numbers, output: [...server.output] };
      } finally {
        await server.stop();
      }
    });
    expect(pans).toHaveLength(CARDS);
    const forms = pans.flatMap((pan) => [pan, pan.replace(/(\d{4})(?=\d)/g, '$1 ')]);

    const tables = await cli
      .db()
      .query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
      );
    for (const { table_name: table } of tables.rows) {
      const rows = await cli.db().query<{ raw: string }>(`SELECT t::text AS raw FROM "${table}" t`);
      for (const { raw } of rows.rows) {
        for (const form of forms) expect(raw.includes(form), `${table} holds a card number`).toBe(false);
      }
    }

    const logs = output.join('\n');
    expect(logs).toContain('incoming request');
    for (const form of forms) expect(logs.includes(form), 'a log line holds a card number').toBe(false);

    if (cli.env.DATABASE_URL === undefined) {
      await cli.exclusive(async () => {
        const files = filesUnder(path.join(cli.dataDir, 'pgdata'));
        expect(files.length).toBeGreaterThan(10);
        for (const file of files) {
          const bytes = readFileSync(file);
          for (const pan of pans) {
            expect(bytes.includes(Buffer.from(pan, 'ascii')), `${file} holds a card number`).toBe(false);
          }
        }
      });
    }
  }, 60_000);
});
