import { isIP } from 'node:net';
import path from 'node:path';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface Config {
  readonly port: number;
  readonly host: string;
  /** A PostgreSQL server; undefined selects the embedded PGlite database in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  /** The platform operator's secret; undefined means one is generated on first start. */
  readonly operatorKey: string | undefined;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMs: number;
  /** Where this deployment keeps data (LANTAU_REGIONS): a programme may only declare one of these regions. */
  readonly regions: readonly string[];
  /** How clients reach this API from outside (LANTAU_PUBLIC_URL), for links Lantau hands out; unset: the request's. */
  readonly publicUrl: string | undefined;
  /** The NATS JetStream that every event is also published to (NATS_URL); undefined: no streaming at all. */
  readonly nats: NatsConfig | undefined;
  /**
   * Where sanctions list files are loaded from at start when no list is loaded yet (LANTAU_SANCTIONS_DIR; default
   * the snapshots in `../shared/data/sanctions` beside the working directory, when there).
   */
  readonly sanctionsDir: string;
  /** The ISO 8583 TCP interface for card networks (ISO8583_PORT); undefined: off. */
  readonly iso8583: Iso8583Config | undefined;
}

export interface Iso8583Config {
  readonly port: number;
  /** ISO8583_HOST, default 127.0.0.1: a network's link is opened on purpose, to the address its gateway reaches. */
  readonly host: string;
  /** ISO8583_ALLOWED_PEERS: the IP addresses allowed to connect; undefined: any that can reach the port. */
  readonly allowedPeers: readonly string[] | undefined;
  /** ISO8583_LENGTH_HEADER: `binary2` (2-byte big-endian, the default) or `ascii4` (4 ASCII digits). */
  readonly lengthHeader: 'binary2' | 'ascii4';
  /** ISO8583_PROFILE: `iso8583-1987-ascii` (default), `iso8583-1987-bcd`, or a path to a JSON profile file. */
  readonly profile: string;
  /** ISO8583_CONNECTIONS_MAX, default 64. */
  readonly connectionsMax: number;
  /** ISO8583_IDLE_TIMEOUT_MS, default 300,000: networks echo (0800) well within it. */
  readonly idleTimeoutMs: number;
}

export interface NatsConfig {
  /** `host:port` of each server, credentials taken out so the list can be shown and logged. */
  readonly servers: readonly string[];
  /** `tls://` in NATS_URL: refuse a server that cannot speak TLS (with `nats://` TLS is used when offered). */
  readonly tls: boolean;
  /** From the URL's user information: `user:password@` or a `token@`. Secrets: never shown. */
  readonly auth: { readonly user: string; readonly pass: string } | { readonly token: string } | undefined;
  /** NATS_STREAM: the JetStream stream that captures `<subjectPrefix>.>`. */
  readonly stream: string;
  /** NATS_SUBJECT_PREFIX: the first subject token(s), so two deployments can share one NATS account. */
  readonly subjectPrefix: string;
  /** NATS_DUPLICATE_WINDOW_MS: how long JetStream remembers event ids, so a replay after a crash is dropped. */
  readonly duplicateWindowMs: number;
}

export interface ConfigProblem {
  readonly name: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `Invalid configuration:\n${problems.map((problem) => `  ${problem.name}: ${problem.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/** The shortest operator key accepted: 32 characters keeps it out of reach of guessing. */
export const OPERATOR_KEY_LENGTH_MIN = 32;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads every setting, and reports every bad value at once: a newcomer fixing their environment should not
 * have to restart once per mistake. Values are never echoed for secrets.
 */
export function loadConfig(env: Env = process.env): Config {
  const problems: ConfigProblem[] = [];
  const problem = (name: string, message: string): undefined => {
    problems.push({ name, message });
    return undefined;
  };

  const port = parsePort(env, 'PORT', 8080, problem);
  const host = nonEmpty(env, 'LANTAU_HOST', problem) ?? '0.0.0.0';
  const databaseUrl = parseDatabaseUrl(env, problem);
  const dataDir = path.resolve(nonEmpty(env, 'LANTAU_DATA_DIR', problem) ?? './data');
  const operatorKey = parseOperatorKey(env, problem);
  const logLevel = parseLogLevel(env, problem);
  const shutdownTimeoutMs = parseInteger(env, 'LANTAU_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000, problem);
  const regions = parseRegions(env, problem);
  const publicUrl = parsePublicUrl(env, problem);
  const nats = parseNats(env, problem);
  const sanctionsDir = path.resolve(
    nonEmpty(env, 'LANTAU_SANCTIONS_DIR', problem) ?? '../shared/data/sanctions',
  );

  const iso8583 = parseIso8583(env, problem);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    port: port ?? 8080,
    host,
    databaseUrl,
    dataDir,
    operatorKey,
    logLevel: logLevel ?? 'info',
    shutdownTimeoutMs: shutdownTimeoutMs ?? 10_000,
    regions: regions ?? ['hk'],
    publicUrl,
    nats,
    sanctionsDir,
    iso8583,
  };
}

function parseIso8583(env: Env, problem: Report): Iso8583Config | undefined {
  const raw = nonEmpty(env, 'ISO8583_PORT', problem);
  if (raw === undefined) return undefined;
  // Every setting is read, so every bad one is reported at once.
  const port = parsePort(env, 'ISO8583_PORT', 0, problem);
  const header = nonEmpty(env, 'ISO8583_LENGTH_HEADER', problem) ?? 'binary2';
  const lengthHeader = header === 'binary2' || header === 'ascii4' ? header : undefined;
  if (lengthHeader === undefined) problem('ISO8583_LENGTH_HEADER', 'must be binary2 or ascii4');
  const connectionsMax = parseInteger(env, 'ISO8583_CONNECTIONS_MAX', 64, 1, 10_000, problem);
  const idleTimeoutMs = parseInteger(env, 'ISO8583_IDLE_TIMEOUT_MS', 300_000, 1_000, 86_400_000, problem);
  const peers = nonEmpty(env, 'ISO8583_ALLOWED_PEERS', problem);
  const allowedPeers = peers?.split(',').map((peer) => peer.trim());
  if (allowedPeers?.some((peer) => isIP(peer) === 0) === true) {
    problem('ISO8583_ALLOWED_PEERS', 'must be IP addresses separated by commas');
  }
  const host = nonEmpty(env, 'ISO8583_HOST', problem) ?? '127.0.0.1';
  const profile = nonEmpty(env, 'ISO8583_PROFILE', problem) ?? 'iso8583-1987-ascii';
  if (port === undefined || connectionsMax === undefined || idleTimeoutMs === undefined) return undefined;
  if (lengthHeader === undefined) return undefined;
  return { port, host, allowedPeers, lengthHeader, profile, connectionsMax, idleTimeoutMs };
}

type Report = (name: string, message: string) => undefined;

function nonEmpty(env: Env, name: string, problem: Report): string | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  if (value.trim() === '') return problem(name, 'must not be empty when set');
  return value;
}

function parseInteger(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problem: Report,
): number | undefined {
  const raw = nonEmpty(env, name, problem);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw))
    return problem(name, `must be a whole number from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  const value = Number(raw);
  if (value < min || value > max) return problem(name, `must be from ${min} to ${max} (got ${raw})`);
  return value;
}

function parsePort(env: Env, name: string, fallback: number, problem: Report): number | undefined {
  return parseInteger(env, name, fallback, 0, 65_535, problem);
}

function parseDatabaseUrl(env: Env, problem: Report): string | undefined {
  const raw = nonEmpty(env, 'DATABASE_URL', problem);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return problem('DATABASE_URL', 'must be a URL such as postgres://user@host:5432/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    return problem('DATABASE_URL', `must use the postgres:// scheme (got ${url.protocol}//)`);
  }
  if (url.pathname.length <= 1)
    return problem('DATABASE_URL', 'must name a database, as in postgres://host/lantau');
  return raw;
}

function parseOperatorKey(env: Env, problem: Report): string | undefined {
  const raw = env.LANTAU_OPERATOR_KEY;
  if (raw === undefined || raw === '') return undefined;
  // The key is a secret: the message says what is wrong without repeating it.
  if (raw.length < OPERATOR_KEY_LENGTH_MIN) {
    return problem('LANTAU_OPERATOR_KEY', `must be at least ${OPERATOR_KEY_LENGTH_MIN} characters long`);
  }
  if (!/^[\x21-\x7e]+$/.test(raw)) {
    return problem('LANTAU_OPERATOR_KEY', 'must be printable ASCII with no spaces');
  }
  return raw;
}

function parseLogLevel(env: Env, problem: Report): LogLevel | undefined {
  const raw = nonEmpty(env, 'LOG_LEVEL', problem);
  if (raw === undefined) return 'info';
  const level = LOG_LEVELS.find((candidate) => candidate === raw.toLowerCase());
  if (level === undefined)
    return problem('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(raw)})`);
  return level;
}

const REGION = /^[a-z]{2}(-[a-z0-9]{1,16})?$/;

function parseRegions(env: Env, problem: Report): string[] | undefined {
  const raw = nonEmpty(env, 'LANTAU_REGIONS', problem);
  if (raw === undefined) return ['hk'];
  const regions = raw.split(',').map((region) => region.trim());
  const bad = regions.filter((region) => !REGION.test(region));
  if (bad.length > 0) {
    return problem(
      'LANTAU_REGIONS',
      `must be a comma-separated list of region codes such as hk or eu-west (not ${bad.map((region) => JSON.stringify(region)).join(', ')})`,
    );
  }
  return [...new Set(regions)];
}

function parsePublicUrl(env: Env, problem: Report): string | undefined {
  const raw = nonEmpty(env, 'LANTAU_PUBLIC_URL', problem);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return problem('LANTAU_PUBLIC_URL', 'must be a URL such as https://cards.example.com');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '') {
    return problem('LANTAU_PUBLIC_URL', 'must be an http(s) URL with no query or fragment');
  }
  return url.toString().replace(/\/$/, '');
}

export const NATS_STREAM_DEFAULT = 'LANTAU';
export const NATS_SUBJECT_PREFIX_DEFAULT = 'lantau';
/** An hour covers a process that crashed between publishing and moving its cursor, and restarted. */
export const NATS_DUPLICATE_WINDOW_MS_DEFAULT = 60 * 60 * 1000;
/** JetStream's own rule for stream names: no spaces, dots, wildcards or path separators. */
const NATS_STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** One or more subject tokens of letters, digits, `_` and `-`: what stays safe in every NATS subject. */
export const NATS_SUBJECT_PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$/;

/**
 * NATS_URL follows the NATS tools' convention: a comma-separated list of servers, each `nats://` or `tls://`,
 * with credentials as the URL's user information. The client library takes credentials as options, not in the
 * URL, so they are taken out here; they are never echoed in a message.
 */
function parseNats(env: Env, problem: Report): NatsConfig | undefined {
  const raw = nonEmpty(env, 'NATS_URL', problem);
  const stream = nonEmpty(env, 'NATS_STREAM', problem) ?? NATS_STREAM_DEFAULT;
  const subjectPrefix = nonEmpty(env, 'NATS_SUBJECT_PREFIX', problem) ?? NATS_SUBJECT_PREFIX_DEFAULT;
  const duplicateWindowMs = parseInteger(
    env,
    'NATS_DUPLICATE_WINDOW_MS',
    NATS_DUPLICATE_WINDOW_MS_DEFAULT,
    1_000,
    7 * 24 * 60 * 60 * 1000,
    problem,
  );
  if (!NATS_STREAM_NAME.test(stream)) {
    problem('NATS_STREAM', 'must be 1 to 64 letters, digits, _ or - (a JetStream stream name)');
  }
  if (!NATS_SUBJECT_PREFIX_PATTERN.test(subjectPrefix)) {
    problem(
      'NATS_SUBJECT_PREFIX',
      'must be 1 to 4 dot-separated tokens of letters, digits, _ or -, as in lantau',
    );
  }
  if (raw === undefined) return undefined;
  const servers: string[] = [];
  const schemes = new Set<string>();
  const credentials = new Set<string>();
  let auth: NatsConfig['auth'];
  for (const entry of raw.split(',').map((part) => part.trim())) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      return problem('NATS_URL', 'must be nats://host:4222, or several such URLs separated by commas');
    }
    if (url.protocol !== 'nats:' && url.protocol !== 'tls:') {
      // Without `//`, what parsed as a scheme may be the start of `user:password@host`: not shown.
      const got = entry.includes('://') ? ` (got ${url.protocol}//)` : '';
      return problem('NATS_URL', `must use the nats:// or tls:// scheme${got}`);
    }
    if (
      url.hostname === '' ||
      (url.pathname !== '' && url.pathname !== '/') ||
      url.search !== '' ||
      url.hash !== ''
    ) {
      return problem(
        'NATS_URL',
        'must name a server, as in nats://host:4222, with no path, query or fragment',
      );
    }
    schemes.add(url.protocol);
    servers.push(url.port === '' ? `${url.hostname}:4222` : url.host);
    if (url.username !== '' || url.password !== '') {
      credentials.add(`${url.username}:${url.password}`);
      const user = decodeUserInfo(url.username);
      const pass = decodeUserInfo(url.password);
      if (user === undefined || pass === undefined) {
        return problem('NATS_URL', 'has a malformed %-escape in its credentials (the value is not shown)');
      }
      auth = url.password === '' ? { token: user } : { user, pass };
    }
  }
  if (schemes.size > 1)
    return problem('NATS_URL', 'must use one scheme, nats:// or tls://, for every server');
  if (credentials.size > 1) return problem('NATS_URL', 'must give the same credentials for every server');
  if (duplicateWindowMs === undefined) return undefined;
  return { servers, tls: schemes.has('tls:'), auth, stream, subjectPrefix, duplicateWindowMs };
}

function decodeUserInfo(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}
