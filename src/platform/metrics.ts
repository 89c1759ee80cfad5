import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process (not prom-client's global), so tests can build many apps side by side. */
export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpRequestDuration: Histogram<'method' | 'route'>;
  readonly dbTransactionRetries: Counter<'code'>;
  /** Events handed to NATS JetStream: `published`, `duplicate` (dropped by its id on a replay) or `skipped`. */
  readonly streamEvents: Counter<'outcome'>;
}

export function createMetrics(options: { collectDefaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'lantau' });
  if (options.collectDefaults ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'lantau_http_requests_total',
      help: 'HTTP requests answered, by route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpRequestDuration: new Histogram({
      name: 'lantau_http_request_duration_seconds',
      help: 'Time from request received to response sent',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    dbTransactionRetries: new Counter({
      name: 'lantau_db_transaction_retries_total',
      help: 'Transactions retried after a serialization failure or deadlock',
      labelNames: ['code'],
      registers: [registry],
    }),
    streamEvents: new Counter({
      name: 'lantau_stream_events_total',
      help: 'Outbox events published to NATS JetStream, by outcome (published, duplicate, skipped)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
