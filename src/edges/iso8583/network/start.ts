/** The ISO 8583 interface as `lantau serve` runs it: the TCP server, the mapping onto the engine, their metrics. */
import type { Registry } from 'prom-client';
import type { ProcessingContext } from '../../../processing/authorize.js';
import { ISO8583_1987_ASCII, ISO8583_1987_BCD, loadProfile, type Iso8583Profile } from '../codec/index.js';
import type { LengthHeader } from '../transport/framing.js';
import {
  createIso8583TransportMetrics,
  startIso8583Server,
  type Iso8583Server,
  type TransportLogger,
} from '../transport/server.js';
import { createIso8583MessageMetrics, createNetworkHandler } from './handler.js';

export interface NetworkInterfaceOptions {
  readonly context: ProcessingContext;
  readonly port?: number;
  readonly host?: string;
  readonly profile?: Iso8583Profile;
  readonly lengthHeader?: LengthHeader;
  readonly connectionsMax?: number;
  readonly allowedPeers?: readonly string[];
  readonly idleTimeoutMs?: number;
  readonly registry?: Registry;
  readonly logger?: TransportLogger;
}

/**
 * A built-in profile by name (`ISO8583_1987_ASCII` or `iso8583-1987-ascii`, the same for BCD) or a JSON profile
 * file; throws ProfileError for a file that is not a sound profile.
 */
export function profileNamed(nameOrPath: string): Iso8583Profile {
  const name = nameOrPath.toUpperCase().replace(/-/g, '_');
  for (const profile of [ISO8583_1987_ASCII, ISO8583_1987_BCD]) if (profile.name === name) return profile;
  return loadProfile(nameOrPath);
}

export async function startNetworkInterface(options: NetworkInterfaceOptions): Promise<Iso8583Server> {
  const handler = createNetworkHandler({
    context: options.context,
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.registry === undefined ? {} : { metrics: createIso8583MessageMetrics(options.registry) }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  return startIso8583Server({
    handler,
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.host === undefined ? {} : { host: options.host }),
    framing: { header: options.lengthHeader ?? 'binary2' },
    ...(options.connectionsMax === undefined ? {} : { connectionsMax: options.connectionsMax }),
    ...(options.allowedPeers === undefined ? {} : { allowedPeers: options.allowedPeers }),
    ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
    ...(options.registry === undefined ? {} : { metrics: createIso8583TransportMetrics(options.registry) }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}
