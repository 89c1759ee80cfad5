import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../platform/config.js';
import { loadSettings } from './settings.js';

function problemNames(env: Record<string, string>): string[] {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((problem) => problem.name);
    throw error;
  }
  throw new Error('expected the settings to be refused');
}

describe('settings of `lantau serve`', () => {
  it('seeds a sandbox on the embedded database by default, and on a server only when asked', () => {
    expect(loadSettings({}).sandbox).toEqual({});
    expect(loadSettings({ DATABASE_URL: 'postgres://db/lantau' }).sandbox).toBeUndefined();
    expect(loadSettings({ DATABASE_URL: 'postgres://db/lantau', LANTAU_SANDBOX: 'true' }).sandbox).toEqual(
      {},
    );
    expect(loadSettings({ LANTAU_SANDBOX: 'false' }).sandbox).toBeUndefined();
  });

  it('takes a fixed sandbox key and CVK pair', () => {
    const settings = loadSettings({
      LANTAU_SANDBOX_SECRET_KEY: 'sk_test_0123456789abcdefghijklmnop',
      LANTAU_SANDBOX_CVK: '0123456789ABCDEFFEDCBA9876543210',
    });
    expect(settings.sandbox?.secretKey).toBe('sk_test_0123456789abcdefghijklmnop');
    expect(settings.sandbox?.cvk?.cvkA.expose().toString('hex')).toBe('0123456789abcdef');
  });

  it('reports the problems of every part at once', () => {
    expect(
      problemNames({
        PORT: 'x',
        LANTAU_SANDBOX: 'yes',
        LANTAU_SANDBOX_CVK: '0123',
        LANTAU_SANDBOX_SECRET_KEY: 'sk_live_0123456789abcdefghijklmnop',
        LANTAU_KEK_PROVIDER: 'vault',
      }),
    ).toEqual([
      'PORT',
      'LANTAU_KEK_PROVIDER',
      'LANTAU_SANDBOX',
      'LANTAU_SANDBOX_SECRET_KEY',
      'LANTAU_SANDBOX_CVK',
    ]);
  });

  it('refuses a CVK pair of the wrong length or with non-hex digits, without repeating it', () => {
    for (const cvk of ['0123456789ABCDEF', '0123456789ABCDEFFEDCBA987654321G']) {
      try {
        loadSettings({ LANTAU_SANDBOX_CVK: cvk });
        throw new Error('accepted');
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as Error).message).toContain('LANTAU_SANDBOX_CVK');
        expect((error as Error).message).not.toContain(cvk);
      }
    }
  });

  it('reads the ISO 8583 profile by name or from a file, and names a profile it cannot read', () => {
    expect(loadSettings({}).iso8583Profile).toBeUndefined();
    expect(loadSettings({ ISO8583_PORT: '0' }).iso8583Profile?.name).toBe('ISO8583_1987_ASCII');
    expect(
      loadSettings({ ISO8583_PORT: '0', ISO8583_PROFILE: 'ISO8583_1987_BCD' }).iso8583Profile?.name,
    ).toBe('ISO8583_1987_BCD');
    const file = new URL('../iso8583/codec/profiles/iso8583-1987-bcd.json', import.meta.url).pathname;
    expect(loadSettings({ ISO8583_PORT: '0', ISO8583_PROFILE: file }).iso8583Profile?.name).toBe(
      'ISO8583_1987_BCD',
    );
    expect(problemNames({ ISO8583_PORT: '0', ISO8583_PROFILE: '/nowhere/profile.json' })).toEqual([
      'ISO8583_PROFILE',
    ]);
  });
});
