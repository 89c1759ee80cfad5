import path from 'node:path';
import { ConfigError, loadConfig, type Config, type ConfigProblem } from '../../platform/config.js';
import type { SandboxSettings } from '../../issuing/sandbox.js';
import { LantauError } from '../../platform/errors.js';
import { readKekSettings, type KekSettings } from '../../vault/kek-config.js';
import { parseCvkPair } from '../../vault/cvv.js';
import type { Iso8583Profile } from '../iso8583/codec/index.js';
import { profileNamed } from '../iso8583/network/start.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface Settings {
  readonly config: Config;
  readonly kek: KekSettings;
  /** Undefined when no sandbox is to be seeded (LANTAU_SANDBOX=false, or a server without LANTAU_SANDBOX=true). */
  readonly sandbox: SandboxSettings | undefined;
  /** The ISO 8583 profile ISO8583_PROFILE names, read and checked; undefined when ISO8583_PORT is not set. */
  readonly iso8583Profile: Iso8583Profile | undefined;
}

const SANDBOX_KEY = /^sk_test_[A-Za-z0-9_-]{24,200}$/;

/**
 * Every setting of the process, from every part, checked together: one run of `lantau serve` reports every bad
 * value at once, one line each, never echoing a secret.
 */
export function loadSettings(env: Env = process.env): Settings {
  const problems: ConfigProblem[] = [];
  let config: Config | undefined;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const dataDir = config?.dataDir ?? path.resolve(env.LANTAU_DATA_DIR ?? './data');
  const kek = readKekSettings(env, dataDir);
  problems.push(...kek.problems);
  const sandbox = readSandboxSettings(env, config?.databaseUrl !== undefined, problems);
  let iso8583Profile: Iso8583Profile | undefined;
  if (config?.iso8583 !== undefined) {
    try {
      iso8583Profile = profileNamed(config.iso8583.profile);
    } catch (error) {
      problems.push({
        name: 'ISO8583_PROFILE',
        message: `not a built-in profile nor a readable profile file: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
  if (problems.length > 0 || config === undefined || kek.settings === undefined)
    throw new ConfigError(problems);
  return { config, kek: kek.settings, sandbox, iso8583Profile };
}

function readSandboxSettings(
  env: Env,
  onServer: boolean,
  problems: ConfigProblem[],
): SandboxSettings | undefined {
  const flag = env.LANTAU_SANDBOX;
  let enabled = !onServer;
  if (flag !== undefined && flag !== '') {
    if (flag !== 'true' && flag !== 'false') {
      problems.push({
        name: 'LANTAU_SANDBOX',
        message: `must be true or false (got ${JSON.stringify(flag)})`,
      });
    }
    enabled = flag === 'true';
  }
  const secretKey = env.LANTAU_SANDBOX_SECRET_KEY;
  const settings: { secretKey?: string; cvk?: SandboxSettings['cvk'] } = {};
  if (secretKey !== undefined && secretKey !== '') {
    if (SANDBOX_KEY.test(secretKey)) settings.secretKey = secretKey;
    else {
      problems.push({
        name: 'LANTAU_SANDBOX_SECRET_KEY',
        message: 'must be sk_test_ followed by 24 to 200 letters, digits, _ or - (the value is not shown)',
      });
    }
  }
  const cvk = env.LANTAU_SANDBOX_CVK;
  if (cvk !== undefined && cvk !== '') {
    try {
      settings.cvk = parseCvkPair(cvk);
    } catch (error) {
      if (!(error instanceof LantauError)) throw error;
      problems.push({ name: 'LANTAU_SANDBOX_CVK', message: error.message });
    }
  }
  return enabled ? settings : undefined;
}
