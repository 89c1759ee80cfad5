import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kekConfigProblems, kekFromConfig, readKekSettings } from './kek-config.js';
import { envKek, parseKeyText } from './kek-env.js';
import { fileKekPath, openFileKek } from './kek-file.js';
import { WRAP_AES_KWP } from './kek.js';
import { Secret } from './secret.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'lantau-kek-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => path.join(root, `d${++dirs}`);

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  return '';
}

describe('file KEK', () => {
  it('creates a 32-byte key with mode 0600 on first use and reads the same key afterwards', async () => {
    const dataDir = freshDir();
    const kek = openFileKek(dataDir);
    const file = fileKekPath(dataDir);
    expect(file).toBe(path.join(dataDir, 'keys', 'kek.key'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o077).toBe(0);
    expect(readFileSync(file).length).toBe(32);
    expect(kek.provider).toBe('file');
    expect(kek.warning).toMatch(/development/);

    const again = openFileKek(dataDir);
    expect(again.id).toBe(kek.id);
    const dataKey = randomBytes(32);
    const wrapped = await kek.wrap(dataKey);
    expect(wrapped[0]).toBe(WRAP_AES_KWP);
    expect(wrapped.length).toBe(41);
    expect((await again.unwrap(wrapped)).equals(dataKey)).toBe(true);
  });

  it('describes itself without its material', () => {
    const dataDir = freshDir();
    const kek = openFileKek(dataDir);
    const material = readFileSync(fileKekPath(dataDir));
    const description = `${kek.describe()} ${JSON.stringify(kek)} ${kek.id}`;
    expect(description).toContain(fileKekPath(dataDir));
    expect(description).not.toContain(material.toString('hex'));
    expect(description).not.toContain(material.toString('base64'));
  });

  it('refuses a key file others may read, and one of the wrong length', () => {
    const loose = freshDir();
    openFileKek(loose);
    chmodSync(fileKekPath(loose), 0o644);
    expect(messageOf(() => openFileKek(loose))).toMatch(/mode 644: group or others may read/);

    const short = freshDir();
    openFileKek(short);
    writeFileSync(fileKekPath(short), randomBytes(31), { mode: 0o600 });
    expect(messageOf(() => openFileKek(short))).toMatch(/holds 31 bytes; .* exactly 32/);
  });

  it('cannot unwrap what another KEK wrapped, and says so', async () => {
    const first = openFileKek(freshDir());
    const second = openFileKek(freshDir());
    const wrapped = await first.wrap(randomBytes(32));
    await expect(second.unwrap(wrapped)).rejects.toThrow(/wrapped by another key-encryption key/);
    const altered = Buffer.from(wrapped);
    altered[5] = (altered[5] ?? 0) ^ 1;
    await expect(first.unwrap(altered)).rejects.toThrow(/could not unwrap/);
  });
});

describe('env KEK', () => {
  const key = randomBytes(32);

  it('reads 64 hex digits or base64, and gives the same id as the same key in a file', async () => {
    for (const text of [
      key.toString('hex'),
      key.toString('hex').toUpperCase(),
      key.toString('base64'),
      key.toString('base64url'),
    ]) {
      const parsed = parseKeyText(text);
      expect(parsed.ok).toBe(true);
      if (parsed.ok) expect(parsed.key.expose().equals(key)).toBe(true);
    }
    const parsed = parseKeyText(key.toString('hex'));
    if (!parsed.ok) throw new Error('expected a key');
    const kek = envKek(parsed.key);
    expect(kek.provider).toBe('env');
    expect(kek.warning).toBeUndefined();

    const dataDir = freshDir();
    openFileKek(dataDir);
    writeFileSync(fileKekPath(dataDir), key, { mode: 0o600 });
    expect(openFileKek(dataDir).id).toBe(kek.id);
    const dataKey = randomBytes(32);
    expect((await openFileKek(dataDir).unwrap(await kek.wrap(dataKey))).equals(dataKey)).toBe(true);
  });

  it('refuses a wrong length or encoding without echoing the value', () => {
    const bad = [
      key.toString('hex').slice(0, 62),
      `${key.toString('hex')}00`,
      `${key.toString('hex').slice(0, 63)}g`,
      randomBytes(31).toString('base64'),
      'not a key at all',
      '00'.repeat(32),
    ];
    for (const value of bad) {
      const parsed = parseKeyText(value);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) {
        expect(parsed.problem.length).toBeGreaterThan(10);
        expect(parsed.problem).not.toContain(value.slice(0, 12));
      }
    }
  });
});

describe('KEK configuration', () => {
  const key = randomBytes(32).toString('hex');
  const pin = 'pin-that-must-never-show-0451';

  it('defaults to the file provider in the data directory', async () => {
    const dataDir = freshDir();
    const result = readKekSettings({}, dataDir);
    expect(result.problems).toEqual([]);
    expect(result.settings).toEqual({ provider: 'file', dataDir });
    if (result.settings === undefined) throw new Error('expected settings');
    const kek = await kekFromConfig(result.settings);
    expect(kek.provider).toBe('file');
    expect(kek.warning).toBeDefined();
  });

  it('chooses the env provider and keeps the key out of the settings when printed', async () => {
    const result = readKekSettings({ LANTAU_KEK_PROVIDER: 'env', LANTAU_KEK: key }, freshDir());
    expect(result.problems).toEqual([]);
    expect(JSON.stringify(result.settings)).not.toContain(key);
    if (result.settings === undefined) throw new Error('expected settings');
    expect((await kekFromConfig(result.settings)).provider).toBe('env');
  });

  it('reports every problem at once and never a secret', () => {
    const problems = kekConfigProblems({
      LANTAU_KEK_PROVIDER: 'pkcs11',
      LANTAU_KEK: key,
      LANTAU_PKCS11_MODULE: 'relative/libsofthsm2.so',
      LANTAU_PKCS11_TOKEN_LABEL: 'x'.repeat(33),
      LANTAU_PKCS11_PIN: pin,
    });
    expect(problems.map((problem) => problem.name)).toEqual([
      'LANTAU_KEK',
      'LANTAU_PKCS11_MODULE',
      'LANTAU_PKCS11_TOKEN_LABEL',
    ]);
    expect(kekConfigProblems({ LANTAU_KEK_PROVIDER: 'pkcs11' }).map((problem) => problem.name)).toEqual([
      'LANTAU_PKCS11_MODULE',
      'LANTAU_PKCS11_TOKEN_LABEL',
      'LANTAU_PKCS11_PIN',
    ]);
    expect(
      kekConfigProblems({
        LANTAU_KEK_PROVIDER: 'pkcs11',
        LANTAU_PKCS11_MODULE: '/nonexistent/lib.so',
        LANTAU_PKCS11_TOKEN_LABEL: 't',
        LANTAU_PKCS11_PIN: pin,
      }),
    ).toEqual([
      {
        name: 'LANTAU_PKCS11_MODULE',
        message: "no file at /nonexistent/lib.so: is the HSM's PKCS#11 library installed?",
      },
    ]);
    expect(kekConfigProblems({ LANTAU_KEK_PROVIDER: 'kms' })).toEqual([
      { name: 'LANTAU_KEK_PROVIDER', message: 'must be one of file, env, pkcs11 (got "kms")' },
    ]);
    expect(kekConfigProblems({ LANTAU_KEK_PROVIDER: 'env' })[0]?.name).toBe('LANTAU_KEK');
    const envProblems = kekConfigProblems({ LANTAU_KEK_PROVIDER: 'env', LANTAU_KEK: key.slice(0, 60) });
    expect(envProblems).toHaveLength(1);
    expect(kekConfigProblems({ LANTAU_PKCS11_PIN: pin })).toEqual([
      {
        name: 'LANTAU_PKCS11_PIN',
        message: 'is set but LANTAU_KEK_PROVIDER is file: set LANTAU_KEK_PROVIDER=pkcs11 to use it',
      },
    ]);
    const all = JSON.stringify([...problems, ...envProblems]);
    expect(all).not.toContain(pin);
    expect(all).not.toContain(key.slice(0, 16));
  });

  it('keeps the PIN a secret in pkcs11 settings', () => {
    const module = process.execPath; // any file that exists stands in for the library here
    const result = readKekSettings(
      {
        LANTAU_KEK_PROVIDER: 'pkcs11',
        LANTAU_PKCS11_MODULE: module,
        LANTAU_PKCS11_TOKEN_LABEL: 'lantau',
        LANTAU_PKCS11_PIN: pin,
      },
      freshDir(),
    );
    expect(result.problems).toEqual([]);
    expect(result.settings).toMatchObject({
      provider: 'pkcs11',
      module,
      tokenLabel: 'lantau',
      keyLabel: 'lantau-kek',
    });
    expect(JSON.stringify(result.settings)).not.toContain(pin);
    if (result.settings?.provider !== 'pkcs11') throw new Error('expected pkcs11 settings');
    expect(result.settings.pin).toBeInstanceOf(Secret);
  });
});
