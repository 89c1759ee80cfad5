import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram, type IssuingContext } from '../../src/issuing/programs.js';
import { ManualClock } from '../../src/platform/clock.js';
import { createIdGenerator } from '../../src/platform/ids.js';
import { loadCvkPair } from '../../src/vault/cvk-pairs.js';
import { computeCvv, cvkCheckValue, parseCvkPair } from '../../src/vault/cvv.js';
import { openFileKek } from '../../src/vault/kek-file.js';
import { Keyring } from '../../src/vault/keyring.js';
import { openCliDatabase, type CliDatabase } from '../support/cli.js';
import { startLantau } from '../support/serve.js';

const SANDBOX_CVK = '0123456789ABCDEFFEDCBA9876543210';
const SANDBOX_KEY = 'sk_test_fixed_for_scripts_0123456789abcdef';

describe('the sandbox with fixed keys, and `lantau keys`', () => {
  let cli: CliDatabase;
  const clock = new ManualClock('2026-06-01T00:00:00.000Z');
  const ids = createIdGenerator(clock);

  beforeAll(async () => {
    cli = await openCliDatabase();
  });
  afterAll(async () => cli.close());

  /** A keyring on the same file KEK the CLI and server use (LANTAU_DATA_DIR/keys). */
  async function withKeyring<T>(work: (context: IssuingContext) => Promise<T>): Promise<T> {
    const kek = openFileKek(cli.dataDir);
    const vault = await Keyring.open({ db: cli.db(), kek, clock, ids, refreshIntervalMs: 0 });
    try {
      return await work({ db: cli.db(), clock, ids, vault, regions: ['hk'] });
    } finally {
      vault.close();
      await kek.close();
    }
  }

  it('seeds the sandbox with LANTAU_SANDBOX_SECRET_KEY and LANTAU_SANDBOX_CVK, never printing them', async () => {
    const server = await cli.exclusive(async () => {
      const started = await startLantau({
        ...cli.env,
        PORT: '0',
        LANTAU_HOST: '127.0.0.1',
        LANTAU_SANDBOX: 'true',
        LANTAU_SANDBOX_SECRET_KEY: SANDBOX_KEY,
        LANTAU_SANDBOX_CVK: SANDBOX_CVK,
      });
      try {
        const programs = await fetch(`${started.url}/v1/programs`, {
          headers: { authorization: `Bearer ${SANDBOX_KEY}` },
        });
        expect(programs.status).toBe(200);
        return { ...started, body: (await programs.json()) as { data: { id: string }[] } };
      } finally {
        await started.stop();
      }
    });
    const text = server.output.join('\n');
    expect(text).toContain('Sandbox key: as set in LANTAU_SANDBOX_SECRET_KEY');
    expect(text).not.toContain(SANDBOX_KEY);
    expect(text.toUpperCase()).not.toContain(SANDBOX_CVK);
    const [sandbox] = server.body.data;
    if (sandbox === undefined) throw new Error('no sandbox programme');
    const stored = await cli
      .db()
      .query<{ check_value: string }>('SELECT check_value FROM vault_cvk_pairs WHERE program_id = $1', [
        sandbox.id,
      ]);
    expect(stored.rows[0]?.check_value).toBe(cvkCheckValue(parseCvkPair(SANDBOX_CVK)));
    await withKeyring(async ({ db, vault }) => {
      const pair = await loadCvkPair(db, vault, sandbox.id);
      if (pair === undefined) throw new Error('no CVK pair');
      // DESIGN.md's published vector, computed under the sandbox's stored pair.
      expect(computeCvv({ pan: '4123456789012345', expiryYYMM: '8701', serviceCode: '101', ...pair })).toBe(
        '561',
      );
    });
  });

  it('rotates data keys: ciphertexts of both versions decrypt, re-encryption moves them, retirement waits', async () => {
    const first = await withKeyring((context) =>
      context.db.transaction((tx) =>
        createProgram(
          tx,
          context,
          { name: 'Before rotation', bin: '45000000', currencies: ['HKD'], region: 'hk', mode: 'live' },
          { actor: { type: 'system', id: 'test' } },
        ),
      ),
    );
    const listed = await cli.run(['keys', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/cvk\s+v1\s+active/);

    const rotated = await cli.run(['keys', 'rotate', '--purpose', 'cvk', '--no-reencrypt']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain('cvk: version 2 active (version 1 now decrypts only)');

    const versionOf = async (programId: string) => {
      const row = await cli.db().query<{ version: number }>(
        `SELECT ('x' || encode(substring(cvk_encrypted FROM 3 FOR 4), 'hex'))::bit(32)::bigint AS version
         FROM vault_cvk_pairs WHERE program_id = $1`,
        [programId],
      );
      return row.rows[0]?.version;
    };
    const second = await withKeyring(async (context) => {
      const program = await context.db.transaction((tx) =>
        createProgram(
          tx,
          context,
          { name: 'After rotation', bin: '45000001', currencies: ['HKD'], region: 'hk', mode: 'live' },
          { actor: { type: 'system', id: 'test' } },
        ),
      );
      // Both versions open: the old pair under v1, the new one under v2.
      expect(await loadCvkPair(context.db, context.vault, first.id)).toBeDefined();
      expect(await loadCvkPair(context.db, context.vault, program.id)).toBeDefined();
      return program;
    });
    expect(await versionOf(first.id)).toBe(1);
    expect(await versionOf(second.id)).toBe(2);

    const moved = await cli.run(['keys', 'reencrypt', '--purpose', 'cvk']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toMatch(/vault_cvk_pairs\.cvk_encrypted: [1-9]\d* rewritten under cvk version 2/);
    expect(await versionOf(first.id)).toBe(2);
    await withKeyring(async ({ db, vault }) => {
      expect(await loadCvkPair(db, vault, first.id)).toBeDefined();
    });

    // Other processes may still encrypt under v1 for a few minutes after the rotation: retirement waits for that.
    const early = await cli.run(['keys', 'retire', '--purpose', 'cvk', '--version', '1']);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('retire it after then');

    const audit = await cli
      .db()
      .query<{ action: string }>(`SELECT action FROM audit_log WHERE action LIKE 'vault.%' ORDER BY seq`);
    expect(audit.rows.map((row) => row.action)).toEqual(
      expect.arrayContaining(['vault.data_key_created', 'vault.data_key_rotated', 'vault.reencrypted']),
    );
  });
});
