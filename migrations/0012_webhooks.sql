-- Webhooks (DESIGN.md, "Conventions"): the endpoints a programme registers, and one delivery per event and endpoint
-- that the dispatcher sends, signed per Standard Webhooks, until it succeeds or its retry schedule runs out.

CREATE TABLE webhook_endpoints (
  id                          text COLLATE "C" PRIMARY KEY,
  program_id                  text COLLATE "C" NOT NULL REFERENCES programs (id),
  url                         text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
  description                 text,
  -- Event types such as `card.created`, or `*` for every type.
  enabled_events              text[] NOT NULL CHECK (cardinality(enabled_events) BETWEEN 1 AND 100),
  status                      text NOT NULL CHECK (status IN ('enabled', 'disabled')),
  -- The signing secret (`whsec_…`) under the vault's credential key, bound to this row. NULL once deleted: a
  -- deleted endpoint keeps its row for its deliveries' history, never its secret.
  secret_encrypted            bytea,
  -- After a rotation the previous secret may keep signing (a second signature) until it expires.
  previous_secret_encrypted   bytea,
  previous_secret_expires_at  timestamptz,
  metadata                    jsonb NOT NULL DEFAULT '{}',
  created_at                  timestamptz NOT NULL,
  updated_at                  timestamptz NOT NULL,
  deleted_at                  timestamptz,
  CHECK ((previous_secret_encrypted IS NULL) = (previous_secret_expires_at IS NULL)),
  CHECK (deleted_at IS NOT NULL OR secret_encrypted IS NOT NULL)
);
CREATE INDEX webhook_endpoints_program ON webhook_endpoints (program_id, id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
  id               text COLLATE "C" PRIMARY KEY,
  program_id       text COLLATE "C" NOT NULL REFERENCES programs (id),
  endpoint_id      text COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id),
  event_id         text COLLATE "C" NOT NULL REFERENCES events (id),
  -- The event's place in the outbox (events.seq), which orders deliveries about one object.
  event_seq        bigint NOT NULL,
  -- The event's data.object.id, when it has one: deliveries about one object go to an endpoint in event order.
  object_id        text COLLATE "C",
  status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- When the dispatcher may next claim it; while an attempt is in flight, when its claim lapses.
  next_attempt_at  timestamptz,
  last_attempt_at  timestamptz,
  last_status_code integer,
  -- A short reason (`HTTP 500`, `timeout after 10000 ms`, `ECONNREFUSED`), never the response body.
  last_error       text CHECK (char_length(last_error) <= 200),
  -- A redelivery someone asked for: one attempt, outside the per-object order, never de-duplicated.
  manual           boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
-- A replayed fan-out of the same event never delivers it twice to an endpoint.
CREATE UNIQUE INDEX webhook_deliveries_fan_out ON webhook_deliveries (endpoint_id, event_id) WHERE NOT manual;
-- The dispatcher's "due" query, and its check for an older pending delivery about the same object.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_object_order ON webhook_deliveries (endpoint_id, object_id, event_seq)
  WHERE status = 'pending' AND NOT manual;
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_program ON webhook_deliveries (program_id, id);
