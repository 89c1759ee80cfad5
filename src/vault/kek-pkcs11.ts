import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Handle, PKCS11, Template } from 'pkcs11js';
import {
  assertDataKey,
  KEY_BYTES,
  WRAP_AES_GCM,
  WRAP_AES_KWP,
  WRAP_GCM_AAD,
  type KeyEncryptionKey,
} from './kek.js';
import { LantauError } from '../platform/errors.js';
import type { Secret } from './secret.js';
import { vaultError } from './vault-error.js';

type Pkcs11js = typeof import('pkcs11js');

/**
 * How data keys are wrapped under the token's key:
 * - `aes-key-wrap-pad`: CKM_AES_KEY_WRAP_PAD (RFC 5649), the mechanism made for wrapping keys. The data key is
 *   imported as a short-lived session object, wrapped, and the object destroyed; unwrapping creates a session
 *   object marked extractable and not sensitive so its value can be read once into memory.
 * - `aes-gcm`: CKM_AES_GCM encryption of the data key's bytes under the token's key. Some HSMs refuse to unwrap
 *   into an extractable object (their policy keeps unwrapped keys inside), which is right for keys used in the
 *   HSM but leaves us nothing to cache. Encrypting the key as data gives the same protection at rest (the KEK
 *   never leaves the token, the ciphertext is authenticated and bound to WRAP_GCM_AAD) without that policy.
 * SoftHSM2 allows the first, so it is the default where the token offers it and a round trip at start works.
 */
export type Pkcs11WrapMechanism = 'aes-key-wrap-pad' | 'aes-gcm';

export interface Pkcs11Settings {
  /** Path of the PKCS#11 module, such as /usr/lib/softhsm/libsofthsm2.so. */
  readonly module: string;
  readonly tokenLabel: string;
  readonly pin: Secret<string>;
  /** CKA_LABEL of the KEK inside the token; the key is generated there on first use. */
  readonly keyLabel: string;
  /** Forces a mechanism (tests use it to cover both); by default the token's best working one. */
  readonly mechanism?: Pkcs11WrapMechanism;
}

interface LoadedModule {
  readonly lib: PKCS11;
  users: number;
}

/**
 * C_Initialize may run once per module per process, and a login is shared by every session an application has
 * with a token, so each module is loaded once and counted; the last provider to close finalizes it.
 */
const loadedModules = new Map<string, LoadedModule>();

function pkcs11Code(error: unknown): number | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'number' ? error.code : undefined;
}

/**
 * What went wrong, for a message: the CKR_ name of a PKCS#11 error, or the first line of a native error (the
 * module failing to load). Neither carries key material or the PIN, which only ever go in as arguments.
 */
function pkcs11Reason(error: unknown): string {
  if (!(error instanceof Error)) return 'an unknown error';
  const firstLine = error.message.split('\n')[0] ?? '';
  return firstLine === '' ? error.name : firstLine.slice(0, 200);
}

function acquireModule(p11: Pkcs11js, modulePath: string): PKCS11 {
  const loaded = loadedModules.get(modulePath);
  if (loaded !== undefined) {
    loaded.users += 1;
    return loaded.lib;
  }
  const lib = new p11.PKCS11();
  lib.load(modulePath);
  try {
    lib.C_Initialize();
  } catch (error) {
    if (pkcs11Code(error) !== p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      lib.close();
      throw error;
    }
  }
  loadedModules.set(modulePath, { lib, users: 1 });
  return lib;
}

function releaseModule(modulePath: string): void {
  const loaded = loadedModules.get(modulePath);
  if (loaded === undefined) return;
  loaded.users -= 1;
  if (loaded.users > 0) return;
  loadedModules.delete(modulePath);
  loaded.lib.C_Finalize();
  loaded.lib.close();
}

export class Pkcs11Kek implements KeyEncryptionKey {
  readonly provider = 'pkcs11' as const;
  readonly warning = undefined;
  private closed = false;

  private constructor(
    private readonly p11: Pkcs11js,
    private readonly lib: PKCS11,
    private readonly session: Handle,
    private readonly key: Handle,
    readonly id: string,
    readonly mechanism: Pkcs11WrapMechanism,
    private readonly settings: Pkcs11Settings,
  ) {}

  /**
   * Logs in to the token, finds the KEK by label or generates it inside the token, and picks the wrapping
   * mechanism. Every PKCS#11 call is synchronous and blocks the event loop, so the keyring calls this provider
   * only while loading data keys, never per request.
   */
  static async open(settings: Pkcs11Settings): Promise<Pkcs11Kek> {
    // Imported here so a machine without the native module can still use the other providers.
    const p11 = (await import('pkcs11js')).default;
    let lib: PKCS11 | undefined;
    let session: Handle | undefined;
    try {
      lib = acquireModule(p11, settings.module);
      const slot = findSlot(lib, settings.tokenLabel);
      session = lib.C_OpenSession(slot, p11.CKF_RW_SESSION | p11.CKF_SERIAL_SESSION);
      try {
        lib.C_Login(session, p11.CKU_USER, settings.pin.expose());
      } catch (error) {
        const code = pkcs11Code(error);
        if (code === p11.CKR_PIN_INCORRECT) {
          throw vaultError(
            'kek_pkcs11_login_failed',
            `the PIN for token "${settings.tokenLabel}" was refused`,
          );
        }
        if (code !== p11.CKR_USER_ALREADY_LOGGED_IN) throw error;
      }
      const { key, keyId } = findOrGenerateKek(p11, lib, session, settings.keyLabel);
      const mechanism = settings.mechanism ?? chooseMechanism(p11, lib, slot, session, key);
      const id = `pkcs11:${settings.tokenLabel}/${settings.keyLabel}#${keyId.subarray(0, 4).toString('hex')}`;
      return new Pkcs11Kek(p11, lib, session, key, id, mechanism, settings);
    } catch (error) {
      if (lib !== undefined) {
        if (session !== undefined) lib.C_CloseSession(session);
        releaseModule(settings.module);
      }
      if (error instanceof LantauError) throw error;
      throw vaultError(
        'kek_pkcs11_unavailable',
        `could not open the PKCS#11 KEK "${settings.keyLabel}" on token "${settings.tokenLabel}" (${settings.module}): ${pkcs11Reason(error)}`,
      );
    }
  }

  async wrap(dataKey: Buffer): Promise<Buffer> {
    assertDataKey(dataKey);
    this.assertOpen();
    return this.mechanism === 'aes-key-wrap-pad'
      ? Buffer.concat([
          Buffer.of(WRAP_AES_KWP),
          keyWrapPad(this.p11, this.lib, this.session, this.key, dataKey),
        ])
      : Buffer.concat([
          Buffer.of(WRAP_AES_GCM),
          gcmEncrypt(this.p11, this.lib, this.session, this.key, dataKey),
        ]);
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    this.assertOpen();
    let dataKey: Buffer;
    try {
      if (wrapped[0] === WRAP_AES_KWP) {
        dataKey = keyUnwrapPad(this.p11, this.lib, this.session, this.key, wrapped.subarray(1));
      } else if (wrapped[0] === WRAP_AES_GCM) {
        dataKey = gcmDecrypt(this.p11, this.lib, this.session, this.key, wrapped.subarray(1));
      } else {
        throw new Error('unknown wrapping format');
      }
    } catch (error) {
      throw vaultError(
        'data_key_unwrap_failed',
        `KEK ${this.id} could not unwrap a data key (${pkcs11Reason(error)}): it was wrapped by another key-encryption key, or altered`,
      );
    }
    if (dataKey.length !== KEY_BYTES) {
      throw vaultError('data_key_unwrap_failed', `an unwrapped data key is not ${KEY_BYTES} bytes`);
    }
    return dataKey;
  }

  describe(): string {
    const mechanism = this.mechanism === 'aes-key-wrap-pad' ? 'CKM_AES_KEY_WRAP_PAD' : 'CKM_AES_GCM';
    return `pkcs11 KEK ${this.id} (module ${this.settings.module}, ${mechanism})`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.lib.C_CloseSession(this.session);
    } finally {
      releaseModule(this.settings.module);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw vaultError('kek_closed', `KEK ${this.id} was closed`);
  }
}

function findSlot(lib: PKCS11, tokenLabel: string): Handle {
  const labels: string[] = [];
  for (const slot of lib.C_GetSlotList(true)) {
    const label = lib.C_GetTokenInfo(slot).label.trim();
    if (label === tokenLabel) return slot;
    labels.push(JSON.stringify(label));
  }
  throw vaultError(
    'kek_pkcs11_token_missing',
    `no PKCS#11 token is labelled "${tokenLabel}" (tokens present: ${labels.length > 0 ? labels.join(', ') : 'none'})`,
  );
}

interface FoundKey {
  readonly key: Handle;
  readonly keyId: Buffer;
}

function findKeys(p11: Pkcs11js, lib: PKCS11, session: Handle, label: string): FoundKey[] {
  lib.C_FindObjectsInit(session, [
    { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
    { type: p11.CKA_KEY_TYPE, value: p11.CKK_AES },
    { type: p11.CKA_LABEL, value: label },
  ]);
  const handles: Handle[] = [];
  try {
    // A label names one key; the bound only stops a token full of duplicates from looping long.
    for (let batch = lib.C_FindObjects(session, 16); batch.length > 0 && handles.length < 256;) {
      handles.push(...batch);
      batch = lib.C_FindObjects(session, 16);
    }
  } finally {
    lib.C_FindObjectsFinal(session);
  }
  return handles.map((key) => {
    const [id] = lib.C_GetAttributeValue(session, key, [{ type: p11.CKA_ID }]);
    return { key, keyId: id?.value ?? Buffer.alloc(0) };
  });
}

/**
 * Generates the KEK inside the token when no key has the label: AES-256, a token object, never extractable,
 * sensitive. Processes starting together may each generate one; every process then keeps the key with the
 * smallest CKA_ID and the others destroy their own, so all agree on one key before any data key is wrapped.
 */
function findOrGenerateKek(p11: Pkcs11js, lib: PKCS11, session: Handle, label: string): FoundKey {
  let keys = findKeys(p11, lib, session, label);
  let generated: FoundKey | undefined;
  if (keys.length === 0) {
    const keyId = randomBytes(16);
    const template: Template = [
      { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
      { type: p11.CKA_KEY_TYPE, value: p11.CKK_AES },
      { type: p11.CKA_VALUE_LEN, value: KEY_BYTES },
      { type: p11.CKA_TOKEN, value: true },
      { type: p11.CKA_PRIVATE, value: true },
      { type: p11.CKA_LABEL, value: label },
      { type: p11.CKA_ID, value: keyId },
      { type: p11.CKA_EXTRACTABLE, value: false },
      { type: p11.CKA_SENSITIVE, value: true },
      { type: p11.CKA_WRAP, value: true },
      { type: p11.CKA_UNWRAP, value: true },
      // For the AES-GCM fallback, which encrypts data keys as data.
      { type: p11.CKA_ENCRYPT, value: true },
      { type: p11.CKA_DECRYPT, value: true },
    ];
    generated = { key: lib.C_GenerateKey(session, { mechanism: p11.CKM_AES_KEY_GEN }, template), keyId };
    keys = findKeys(p11, lib, session, label);
  }
  const chosen = keys.reduce<FoundKey | undefined>(
    (best, candidate) =>
      best === undefined || Buffer.compare(candidate.keyId, best.keyId) < 0 ? candidate : best,
    undefined,
  );
  if (chosen === undefined) throw new Error('CKR_KEY_HANDLE_INVALID');
  if (generated !== undefined && !generated.keyId.equals(chosen.keyId)) {
    lib.C_DestroyObject(session, generated.key);
  }
  const [extractable, valueLength] = lib.C_GetAttributeValue(session, chosen.key, [
    { type: p11.CKA_EXTRACTABLE },
    { type: p11.CKA_VALUE_LEN },
  ]);
  if (extractable?.value[0] !== 0) {
    throw vaultError(
      'kek_pkcs11_key_unsafe',
      `the token's key "${label}" is extractable: a KEK must never leave the HSM; create one with CKA_EXTRACTABLE false`,
    );
  }
  if (valueLength !== undefined && readUlong(valueLength.value) !== KEY_BYTES) {
    throw vaultError('kek_pkcs11_key_unsafe', `the token's key "${label}" is not an AES-256 key`);
  }
  return chosen;
}

/** A CK_ULONG attribute as the module returns it: native-endian, 8 bytes on 64-bit Linux, 4 elsewhere. */
function readUlong(value: Buffer): number | undefined {
  if (value.length === 8) return Number(value.readBigUInt64LE(0));
  if (value.length === 4) return value.readUInt32LE(0);
  return undefined;
}

/** Key wrap with padding when the token offers it and a round trip works; AES-GCM otherwise. */
function chooseMechanism(
  p11: Pkcs11js,
  lib: PKCS11,
  slot: Handle,
  session: Handle,
  key: Handle,
): Pkcs11WrapMechanism {
  const mechanisms = lib.C_GetMechanismList(slot);
  if (mechanisms.includes(p11.CKM_AES_KEY_WRAP_PAD)) {
    const probe = randomBytes(KEY_BYTES);
    try {
      const back = keyUnwrapPad(p11, lib, session, key, keyWrapPad(p11, lib, session, key, probe));
      if (back.length === probe.length && timingSafeEqual(back, probe)) return 'aes-key-wrap-pad';
    } catch {
      // The token's policy refuses an extractable unwrapped key: fall through to AES-GCM.
    }
  }
  if (mechanisms.includes(p11.CKM_AES_GCM)) return 'aes-gcm';
  throw vaultError(
    'kek_pkcs11_unsupported',
    'the token offers neither a working CKM_AES_KEY_WRAP_PAD nor CKM_AES_GCM to protect data keys',
  );
}

/** Attributes of the short-lived session object a data key becomes while the token wraps or unwraps it. */
function sessionKeyTemplate(p11: Pkcs11js): Template {
  return [
    { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
    { type: p11.CKA_KEY_TYPE, value: p11.CKK_AES },
    { type: p11.CKA_TOKEN, value: false },
    { type: p11.CKA_EXTRACTABLE, value: true },
    { type: p11.CKA_SENSITIVE, value: false },
  ];
}

function keyWrapPad(p11: Pkcs11js, lib: PKCS11, session: Handle, kek: Handle, dataKey: Buffer): Buffer {
  const object = lib.C_CreateObject(session, [
    ...sessionKeyTemplate(p11),
    { type: p11.CKA_VALUE, value: dataKey },
  ]);
  try {
    return lib.C_WrapKey(
      session,
      { mechanism: p11.CKM_AES_KEY_WRAP_PAD },
      kek,
      object,
      Buffer.alloc(dataKey.length + 16),
    );
  } finally {
    lib.C_DestroyObject(session, object);
  }
}

function keyUnwrapPad(p11: Pkcs11js, lib: PKCS11, session: Handle, kek: Handle, wrapped: Buffer): Buffer {
  const object = lib.C_UnwrapKey(
    session,
    { mechanism: p11.CKM_AES_KEY_WRAP_PAD },
    kek,
    wrapped,
    sessionKeyTemplate(p11),
  );
  try {
    const [value] = lib.C_GetAttributeValue(session, object, [{ type: p11.CKA_VALUE }]);
    if (value === undefined) throw new Error('CKR_ATTRIBUTE_TYPE_INVALID');
    return Buffer.from(value.value);
  } finally {
    lib.C_DestroyObject(session, object);
  }
}

const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;

function gcmParameters(p11: Pkcs11js, iv: Buffer) {
  return {
    mechanism: p11.CKM_AES_GCM,
    parameter: {
      type: p11.CK_PARAMS_AES_GCM,
      iv,
      ivBits: GCM_IV_BYTES * 8,
      aad: WRAP_GCM_AAD,
      tagBits: GCM_TAG_BYTES * 8,
    },
  };
}

function gcmEncrypt(p11: Pkcs11js, lib: PKCS11, session: Handle, kek: Handle, dataKey: Buffer): Buffer {
  const iv = randomBytes(GCM_IV_BYTES);
  lib.C_EncryptInit(session, gcmParameters(p11, iv), kek);
  const sealed = lib.C_Encrypt(session, dataKey, Buffer.alloc(dataKey.length + GCM_TAG_BYTES));
  return Buffer.concat([iv, sealed]);
}

function gcmDecrypt(p11: Pkcs11js, lib: PKCS11, session: Handle, kek: Handle, wrapped: Buffer): Buffer {
  const iv = wrapped.subarray(0, GCM_IV_BYTES);
  const sealed = wrapped.subarray(GCM_IV_BYTES);
  lib.C_DecryptInit(session, gcmParameters(p11, iv), kek);
  return Buffer.from(lib.C_Decrypt(session, sealed, Buffer.alloc(sealed.length)));
}
