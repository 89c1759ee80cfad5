import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ConfigProblem } from '../platform/config.js';
import type { KekProvider, KeyEncryptionKey } from './kek.js';
import { envKek, parseKeyText } from './kek-env.js';
import { openFileKek } from './kek-file.js';
import { Pkcs11Kek, type Pkcs11Settings } from './kek-pkcs11.js';
import { Secret } from './secret.js';

type Env = Readonly<Record<string, string | undefined>>;

export const KEK_PROVIDERS: readonly KekProvider[] = ['file', 'env', 'pkcs11'];
export const DEFAULT_PKCS11_KEY_LABEL = 'lantau-kek';
/** PKCS#11 pads token labels to 32 bytes; a longer one can never match. */
const TOKEN_LABEL_BYTES_MAX = 32;
const KEY_LABEL_LENGTH_MAX = 128;

export type KekSettings =
  | { readonly provider: 'file'; readonly dataDir: string }
  | { readonly provider: 'env'; readonly key: Secret<Buffer> }
  | ({ readonly provider: 'pkcs11' } & Pkcs11Settings);

export interface KekSettingsResult {
  /** Undefined exactly when there are problems. */
  readonly settings: KekSettings | undefined;
  readonly problems: readonly ConfigProblem[];
}

const PKCS11_VARIABLES = [
  'LANTAU_PKCS11_MODULE',
  'LANTAU_PKCS11_TOKEN_LABEL',
  'LANTAU_PKCS11_PIN',
  'LANTAU_PKCS11_KEY_LABEL',
] as const;

function isSet(env: Env, name: string): boolean {
  const value = env[name];
  return value !== undefined && value !== '';
}

/**
 * Reads the KEK settings: `LANTAU_KEK_PROVIDER` = `file` (the default) | `env` | `pkcs11`, with `LANTAU_KEK` for
 * `env` and `LANTAU_PKCS11_MODULE`, `_TOKEN_LABEL`, `_PIN` and `_KEY_LABEL` for `pkcs11`. Every problem is
 * reported at once, like the rest of the configuration, and no secret (the key, the PIN) is ever repeated.
 * A key or PIN given for a provider that is not selected is a problem too: silently generating a development
 * key file while the real key sits unused in the environment is the mistake this catches.
 */
export function readKekSettings(env: Env, dataDir: string): KekSettingsResult {
  const problems: ConfigProblem[] = [];
  const problem = (name: string, message: string): undefined => {
    problems.push({ name, message });
    return undefined;
  };

  const rawProvider = env.LANTAU_KEK_PROVIDER;
  const provider =
    rawProvider === undefined || rawProvider === ''
      ? 'file'
      : KEK_PROVIDERS.find((candidate) => candidate === rawProvider.trim().toLowerCase());
  if (provider === undefined) {
    problem(
      'LANTAU_KEK_PROVIDER',
      `must be one of ${KEK_PROVIDERS.join(', ')} (got ${JSON.stringify(rawProvider)})`,
    );
  }

  if (provider !== 'env' && isSet(env, 'LANTAU_KEK')) {
    problem(
      'LANTAU_KEK',
      `is set but LANTAU_KEK_PROVIDER is ${provider ?? 'invalid'}: set LANTAU_KEK_PROVIDER=env to use it, or unset it`,
    );
  }
  if (provider !== 'pkcs11') {
    for (const name of PKCS11_VARIABLES) {
      if (isSet(env, name)) {
        problem(
          name,
          `is set but LANTAU_KEK_PROVIDER is ${provider ?? 'invalid'}: set LANTAU_KEK_PROVIDER=pkcs11 to use it`,
        );
      }
    }
  }

  let settings: KekSettings | undefined;
  if (provider === 'file') {
    settings = { provider, dataDir };
  } else if (provider === 'env') {
    const raw = env.LANTAU_KEK;
    if (raw === undefined || raw === '') {
      problem(
        'LANTAU_KEK',
        'must be set when LANTAU_KEK_PROVIDER is env (64 hex digits or base64 of 32 bytes)',
      );
    } else {
      const parsed = parseKeyText(raw);
      if (parsed.ok) settings = { provider, key: parsed.key };
      else problem('LANTAU_KEK', parsed.problem);
    }
  } else if (provider === 'pkcs11') {
    settings = readPkcs11Settings(env, problem);
  }
  return problems.length > 0 ? { settings: undefined, problems } : { settings, problems };
}

function readPkcs11Settings(
  env: Env,
  problem: (name: string, message: string) => undefined,
): KekSettings | undefined {
  const required = (name: string): string | undefined => {
    const value = env[name];
    if (value === undefined || value === '')
      return problem(name, 'must be set when LANTAU_KEK_PROVIDER is pkcs11');
    return value;
  };
  let module = required('LANTAU_PKCS11_MODULE');
  if (module !== undefined && !path.isAbsolute(module)) {
    module = problem(
      'LANTAU_PKCS11_MODULE',
      `must be an absolute path to the PKCS#11 library (got ${JSON.stringify(module)})`,
    );
  } else if (module !== undefined && !existsSync(module)) {
    module = problem('LANTAU_PKCS11_MODULE', `no file at ${module}: is the HSM's PKCS#11 library installed?`);
  }
  let tokenLabel = required('LANTAU_PKCS11_TOKEN_LABEL');
  if (tokenLabel !== undefined && Buffer.byteLength(tokenLabel, 'utf8') > TOKEN_LABEL_BYTES_MAX) {
    tokenLabel = problem('LANTAU_PKCS11_TOKEN_LABEL', `must be at most ${TOKEN_LABEL_BYTES_MAX} bytes`);
  }
  // The PIN is a secret: only its absence is reported.
  const pin = required('LANTAU_PKCS11_PIN');
  const rawKeyLabel = env.LANTAU_PKCS11_KEY_LABEL;
  let keyLabel: string | undefined =
    rawKeyLabel === undefined || rawKeyLabel === '' ? DEFAULT_PKCS11_KEY_LABEL : rawKeyLabel;
  if (keyLabel.trim() === '' || keyLabel.length > KEY_LABEL_LENGTH_MAX) {
    keyLabel = problem(
      'LANTAU_PKCS11_KEY_LABEL',
      `must be from 1 to ${KEY_LABEL_LENGTH_MAX} characters, not blank`,
    );
  }
  if (module === undefined || tokenLabel === undefined || pin === undefined || keyLabel === undefined)
    return undefined;
  return { provider: 'pkcs11', module, tokenLabel, pin: new Secret(pin), keyLabel };
}

/** For the configuration loader: every problem with the KEK settings, without opening anything. */
export function kekConfigProblems(env: Env): ConfigProblem[] {
  return [...readKekSettings(env, '.').problems];
}

/**
 * Opens the KEK the settings choose. The `file` provider's `warning` is set: callers log it at start, since a
 * key beside the database protects against little more than a copied database.
 */
export async function kekFromConfig(settings: KekSettings): Promise<KeyEncryptionKey> {
  switch (settings.provider) {
    case 'file':
      return openFileKek(settings.dataDir);
    case 'env':
      return envKek(settings.key);
    case 'pkcs11':
      return Pkcs11Kek.open(settings);
  }
}
