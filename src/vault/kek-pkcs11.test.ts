import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../platform/clock.js';
import { createIdGenerator } from '../platform/ids.js';
import { kekFromConfig, readKekSettings } from './kek-config.js';
import { Pkcs11Kek } from './kek-pkcs11.js';
import { WRAP_AES_GCM, WRAP_AES_KWP } from './kek.js';
import { Keyring } from './keyring.js';
import { Secret } from './secret.js';
import { createSoftHsmToken, SOFTHSM_MODULE, softHsmUnavailable } from './softhsm.js';

const unavailable = softHsmUnavailable();
const TOKEN = 'lantau-test';
const PIN = '480213';
const KEY_LABEL = 'lantau-kek-test';

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

describe.skipIf(unavailable !== undefined)(
  `PKCS#11 KEK on SoftHSM2${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`,
  () => {
    let dir: string;
    const settings = () => ({
      module: SOFTHSM_MODULE,
      tokenLabel: TOKEN,
      pin: new Secret(PIN),
      keyLabel: KEY_LABEL,
    });
    const opened: Pkcs11Kek[] = [];
    const open = async (extra: Partial<Parameters<typeof Pkcs11Kek.open>[0]> = {}): Promise<Pkcs11Kek> => {
      const kek = await Pkcs11Kek.open({ ...settings(), ...extra });
      opened.push(kek);
      return kek;
    };

    beforeAll(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'lantau-softhsm-'));
      const token = createSoftHsmToken(dir, TOKEN, PIN, '11223344');
      // SoftHSM reads its configuration when the module is first initialised in this process.
      process.env.SOFTHSM2_CONF = token.conf;
    });
    afterAll(async () => {
      for (const kek of opened) await kek.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('refuses a wrong PIN without showing it', async () => {
      // First, before any login: a login is shared by the whole process once made.
      const refused = await Pkcs11Kek.open({ ...settings(), pin: new Secret('999999') }).catch(messageOf);
      expect(refused).toBe(`the PIN for token "${TOKEN}" was refused`);
    });

    it('generates the KEK inside the token, never extractable, and wraps and unwraps data keys', async () => {
      const kek = await open();
      expect(kek.mechanism).toBe('aes-key-wrap-pad');
      expect(kek.id).toMatch(new RegExp(`^pkcs11:${TOKEN}/${KEY_LABEL}#[0-9a-f]{8}$`));
      expect(kek.describe()).toContain('CKM_AES_KEY_WRAP_PAD');
      expect(kek.describe()).not.toContain(PIN);

      const dataKey = randomBytes(32);
      const wrapped = await kek.wrap(dataKey);
      expect(wrapped[0]).toBe(WRAP_AES_KWP);
      expect(wrapped.length).toBe(41);
      expect(wrapped.includes(dataKey)).toBe(false);
      expect((await kek.unwrap(wrapped)).equals(dataKey)).toBe(true);

      const pkcs11 = (await import('pkcs11js')).default;
      const lib = new pkcs11.PKCS11();
      lib.load(SOFTHSM_MODULE); // the module is initialised already: this shares it
      const slot = lib
        .C_GetSlotList(true)
        .find((candidate) => lib.C_GetTokenInfo(candidate).label.trim() === TOKEN);
      if (slot === undefined) throw new Error('token not found');
      const session = lib.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION);
      try {
        lib.C_FindObjectsInit(session, [{ type: pkcs11.CKA_LABEL, value: KEY_LABEL }]);
        const handles = lib.C_FindObjects(session, 10);
        lib.C_FindObjectsFinal(session);
        expect(handles).toHaveLength(1);
        const [token, extractable, sensitive, neverExtractable] = lib.C_GetAttributeValue(
          session,
          handles[0] as Buffer,
          [
            { type: pkcs11.CKA_TOKEN },
            { type: pkcs11.CKA_EXTRACTABLE },
            { type: pkcs11.CKA_SENSITIVE },
            { type: pkcs11.CKA_NEVER_EXTRACTABLE },
          ],
        );
        expect(
          [token, extractable, sensitive, neverExtractable].map((attribute) => attribute?.value[0]),
        ).toEqual([1, 0, 1, 1]);
        expect(() =>
          lib.C_GetAttributeValue(session, handles[0] as Buffer, [{ type: pkcs11.CKA_VALUE }]),
        ).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      } finally {
        lib.C_CloseSession(session);
      }
    });

    it('finds the same key on the next start, and unwraps what the AES-GCM fallback wrapped', async () => {
      const first = await open();
      const gcm = await open({ mechanism: 'aes-gcm' });
      expect(gcm.id).toBe(first.id);
      expect(gcm.describe()).toContain('CKM_AES_GCM');
      const dataKey = randomBytes(32);
      const wrapped = await gcm.wrap(dataKey);
      expect(wrapped[0]).toBe(WRAP_AES_GCM);
      expect(wrapped.length).toBe(1 + 12 + 32 + 16);
      expect((await gcm.unwrap(wrapped)).equals(dataKey)).toBe(true);
      expect((await first.unwrap(wrapped)).equals(dataKey)).toBe(true);
      const altered = Buffer.from(wrapped);
      altered[20] = (altered[20] ?? 0) ^ 1;
      await expect(first.unwrap(altered)).rejects.toThrow(/could not unwrap a data key/);
    });

    it('says which token is missing and never shows the PIN', async () => {
      const missing = await Pkcs11Kek.open({ ...settings(), tokenLabel: 'no-such-token' }).catch(messageOf);
      expect(missing).toMatch(
        /no PKCS#11 token is labelled "no-such-token" \(tokens present: .*"lantau-test"/,
      );
      expect(missing).not.toContain(PIN);
    });

    it('agrees on the key with the smallest CKA_ID when two share the label', async () => {
      const pkcs11 = (await import('pkcs11js')).default;
      const lib = new pkcs11.PKCS11();
      lib.load(SOFTHSM_MODULE);
      const slot = lib
        .C_GetSlotList(true)
        .find((candidate) => lib.C_GetTokenInfo(candidate).label.trim() === TOKEN);
      if (slot === undefined) throw new Error('token not found');
      const session = lib.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
      const label = 'lantau-kek-race';
      try {
        const first = await open({ keyLabel: label });
        // What a second process starting at the same moment might have left: another key, with a smaller id.
        lib.C_GenerateKey(session, { mechanism: pkcs11.CKM_AES_KEY_GEN }, [
          { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_SECRET_KEY },
          { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_AES },
          { type: pkcs11.CKA_VALUE_LEN, value: 32 },
          { type: pkcs11.CKA_TOKEN, value: true },
          { type: pkcs11.CKA_PRIVATE, value: true },
          { type: pkcs11.CKA_LABEL, value: label },
          { type: pkcs11.CKA_ID, value: Buffer.alloc(16) },
          { type: pkcs11.CKA_EXTRACTABLE, value: false },
          { type: pkcs11.CKA_WRAP, value: true },
          { type: pkcs11.CKA_UNWRAP, value: true },
        ]);
        const second = await open({ keyLabel: label });
        expect(second.id).toBe(`pkcs11:${TOKEN}/${label}#00000000`);
        expect(second.id).not.toBe(first.id);
        await expect(second.unwrap(await first.wrap(randomBytes(32)))).rejects.toThrow(/could not unwrap/);
      } finally {
        lib.C_CloseSession(session);
      }
    });

    it('is chosen by configuration and backs a keyring', async () => {
      const result = readKekSettings(
        {
          LANTAU_KEK_PROVIDER: 'pkcs11',
          LANTAU_PKCS11_MODULE: SOFTHSM_MODULE,
          LANTAU_PKCS11_TOKEN_LABEL: TOKEN,
          LANTAU_PKCS11_PIN: PIN,
          LANTAU_PKCS11_KEY_LABEL: KEY_LABEL,
        },
        dir,
      );
      expect(result.problems).toEqual([]);
      if (result.settings === undefined) throw new Error('expected settings');
      const kek = await kekFromConfig(result.settings);
      if (kek instanceof Pkcs11Kek) opened.push(kek);
      expect(kek.provider).toBe('pkcs11');

      const db: TestDatabase = await openTestDatabase();
      try {
        const clock = new ManualClock();
        const keyring = await Keyring.open({
          db,
          kek,
          clock,
          ids: createIdGenerator(clock),
          refreshIntervalMs: 0,
        });
        const ciphertext = keyring.encrypt('pan', Buffer.from('4111111111111111'), 'row');
        // A second keyring unwraps every data key again through the token.
        const other = await Keyring.open({
          db,
          kek,
          clock,
          ids: createIdGenerator(clock),
          refreshIntervalMs: 0,
        });
        expect((await other.decrypt(ciphertext, 'row')).toString()).toBe('4111111111111111');
      } finally {
        await db.close();
      }
    });
  },
);

describe('PKCS#11 KEK without a module', () => {
  it('names the module it could not load, and not the PIN', async () => {
    const message = await Pkcs11Kek.open({
      module: '/nonexistent/libpkcs11-missing.so',
      tokenLabel: TOKEN,
      pin: new Secret(PIN),
      keyLabel: KEY_LABEL,
    }).catch(messageOf);
    expect(message).toMatch(
      /could not open the PKCS#11 KEK "lantau-kek-test" on token "lantau-test" \(\/nonexistent\/libpkcs11-missing.so\)/,
    );
    expect(message).not.toContain(PIN);
  });
});
