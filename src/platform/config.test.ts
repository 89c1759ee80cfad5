import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

function problemsOf(env: Record<string, string>): { name: string; message: string }[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration', () => {
  it('has defaults that need no settings at all', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toMatch(/\/data$/);
    expect(config.operatorKey).toBeUndefined();
    expect(config.logLevel).toBe('info');
  });

  it('reads every public name', () => {
    const config = loadConfig({
      PORT: '9090',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/lantau',
      LANTAU_DATA_DIR: '/var/lib/lantau',
      LANTAU_OPERATOR_KEY: 'k'.repeat(40),
      LOG_LEVEL: 'DEBUG',
    });
    expect(config).toMatchObject({
      port: 9090,
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/lantau',
      dataDir: '/var/lib/lantau',
      operatorKey: 'k'.repeat(40),
      logLevel: 'debug',
    });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT', /whole number/],
    [{ PORT: '70000' }, 'PORT', /from 0 to 65535/],
    [{ PORT: '-1' }, 'PORT', /whole number/],
    [{ PORT: '' }, 'PORT', /must not be empty/],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL', /must be a URL/],
    [{ DATABASE_URL: 'mysql://root@localhost/lantau' }, 'DATABASE_URL', /postgres:\/\/ scheme/],
    [{ DATABASE_URL: 'postgres://localhost' }, 'DATABASE_URL', /name a database/],
    [{ LANTAU_DATA_DIR: '  ' }, 'LANTAU_DATA_DIR', /must not be empty/],
    [{ LANTAU_OPERATOR_KEY: 'short' }, 'LANTAU_OPERATOR_KEY', /at least 32 characters/],
    [{ LANTAU_OPERATOR_KEY: `${'k'.repeat(32)} x` }, 'LANTAU_OPERATOR_KEY', /no spaces/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /must be one of/],
  ])('refuses %j naming %s', (env, name, message) => {
    const problems = problemsOf(env);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.name).toBe(name);
    expect(problems[0]?.message).toMatch(message);
  });

  it('reports every bad value at once, one line each, and never echoes the operator key', () => {
    const secret = 'tooshort-secret';
    let error: unknown;
    try {
      loadConfig({ PORT: 'x', LOG_LEVEL: 'loud', LANTAU_OPERATOR_KEY: secret });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message.split('\n').filter((line) => line.startsWith('  '))).toHaveLength(3);
    expect(message).toContain('PORT:');
    expect(message).toContain('LOG_LEVEL:');
    expect(message).toContain('LANTAU_OPERATOR_KEY:');
    expect(message).not.toContain(secret);
  });

  it('reads the regions this deployment keeps data in, and refuses a malformed one', () => {
    expect(loadConfig({}).regions).toEqual(['hk']);
    expect(loadConfig({ LANTAU_REGIONS: 'hk, sg,eu-west,hk' }).regions).toEqual(['hk', 'sg', 'eu-west']);
    expect(problemsOf({ LANTAU_REGIONS: 'hk,Hong Kong' })).toEqual([
      {
        name: 'LANTAU_REGIONS',
        message: 'must be a comma-separated list of region codes such as hk or eu-west (not "Hong Kong")',
      },
    ]);
  });

  it('reads the public URL that links point at', () => {
    expect(loadConfig({}).publicUrl).toBeUndefined();
    expect(loadConfig({ LANTAU_PUBLIC_URL: 'https://cards.example.com/' }).publicUrl).toBe(
      'https://cards.example.com',
    );
    expect(problemsOf({ LANTAU_PUBLIC_URL: 'ftp://x' })[0]?.name).toBe('LANTAU_PUBLIC_URL');
  });
});
