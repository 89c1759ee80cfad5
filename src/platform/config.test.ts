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
    [{ NATS_URL: 'not a url' }, 'NATS_URL', /must be nats:\/\/host:4222/],
    [{ NATS_URL: 'http://127.0.0.1:4222' }, 'NATS_URL', /nats:\/\/ or tls:\/\/ scheme \(got http:\/\/\)/],
    [{ NATS_URL: 'nats://127.0.0.1:4222/stream' }, 'NATS_URL', /no path, query or fragment/],
    [{ NATS_URL: 'nats://a:4222,' }, 'NATS_URL', /must be nats:\/\/host:4222/],
    [{ NATS_URL: 'nats://a:4222,tls://b:4222' }, 'NATS_URL', /one scheme/],
    [{ NATS_URL: 'nats://u:p@a:4222,nats://u:q@b:4222' }, 'NATS_URL', /same credentials/],
    [{ NATS_URL: 'nats://a:99999' }, 'NATS_URL', /must be nats:\/\/host:4222/],
    [{ NATS_STREAM: 'lantau.events' }, 'NATS_STREAM', /stream name/],
    [{ NATS_SUBJECT_PREFIX: 'lantau.*' }, 'NATS_SUBJECT_PREFIX', /dot-separated tokens/],
    [{ NATS_DUPLICATE_WINDOW_MS: '10' }, 'NATS_DUPLICATE_WINDOW_MS', /from 1000 to 604800000/],
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

  it('streams to NATS only when NATS_URL is set, and reads its servers, credentials and stream', () => {
    expect(loadConfig({}).nats).toBeUndefined();
    expect(loadConfig({ NATS_URL: 'nats://127.0.0.1:4222' }).nats).toEqual({
      servers: ['127.0.0.1:4222'],
      tls: false,
      auth: undefined,
      stream: 'LANTAU',
      subjectPrefix: 'lantau',
      duplicateWindowMs: 3_600_000,
    });
    expect(
      loadConfig({
        NATS_URL: 'tls://lantau:p%40ss@n1.example.com, tls://lantau:p%40ss@n2.example.com:4333',
        NATS_STREAM: 'EVENTS_HK',
        NATS_SUBJECT_PREFIX: 'hk.lantau',
        NATS_DUPLICATE_WINDOW_MS: '7200000',
      }).nats,
    ).toEqual({
      servers: ['n1.example.com:4222', 'n2.example.com:4333'],
      tls: true,
      auth: { user: 'lantau', pass: 'p@ss' },
      stream: 'EVENTS_HK',
      subjectPrefix: 'hk.lantau',
      duplicateWindowMs: 7_200_000,
    });
    expect(loadConfig({ NATS_URL: 'nats://s3cr3tt0ken@127.0.0.1' }).nats?.auth).toEqual({
      token: 's3cr3tt0ken',
    });
  });

  it('never echoes NATS credentials in a problem', () => {
    for (const url of [
      'nats://user:hunter2@host:4222/x',
      'nats://user:hunter2%zz@host:4222',
      'ftp://user:hunter2@host',
      'lantau:hunter2@host:4222',
    ]) {
      const problems = problemsOf({ NATS_URL: url });
      expect(problems.map((p) => p.name)).toEqual(['NATS_URL']);
      expect(JSON.stringify(problems)).not.toContain('hunter2');
    }
  });

  it('opens the ISO 8583 interface only when ISO8583_PORT is set, and reads its settings', () => {
    expect(loadConfig({}).iso8583).toBeUndefined();
    // Listening beyond this host is a choice made on purpose (ISO8583_HOST), whatever the HTTP API does.
    expect(loadConfig({ ISO8583_PORT: '8583', LANTAU_HOST: '10.0.0.5' }).iso8583).toEqual({
      port: 8583,
      host: '127.0.0.1',
      allowedPeers: undefined,
      lengthHeader: 'binary2',
      profile: 'iso8583-1987-ascii',
      connectionsMax: 64,
      idleTimeoutMs: 300_000,
    });
    expect(
      loadConfig({
        ISO8583_PORT: '9000',
        ISO8583_HOST: '127.0.0.1',
        ISO8583_LENGTH_HEADER: 'ascii4',
        ISO8583_PROFILE: 'iso8583-1987-bcd',
        ISO8583_CONNECTIONS_MAX: '8',
        ISO8583_IDLE_TIMEOUT_MS: '60000',
        ISO8583_ALLOWED_PEERS: '10.1.2.3, ::1',
      }).iso8583,
    ).toEqual({
      port: 9000,
      host: '127.0.0.1',
      allowedPeers: ['10.1.2.3', '::1'],
      lengthHeader: 'ascii4',
      profile: 'iso8583-1987-bcd',
      connectionsMax: 8,
      idleTimeoutMs: 60_000,
    });
    expect(
      problemsOf({
        ISO8583_PORT: '70000',
        ISO8583_LENGTH_HEADER: 'three',
        ISO8583_CONNECTIONS_MAX: '0',
        ISO8583_IDLE_TIMEOUT_MS: 'soon',
      }).map((problem) => problem.name),
    ).toEqual([
      'ISO8583_PORT',
      'ISO8583_LENGTH_HEADER',
      'ISO8583_CONNECTIONS_MAX',
      'ISO8583_IDLE_TIMEOUT_MS',
    ]);
  });
});
