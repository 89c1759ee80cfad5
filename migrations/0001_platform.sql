-- Platform and records: API keys, idempotency keys, the transactional outbox and the audit log.
-- Ids are text in the "C" collation so ORDER BY id is byte order, the order ids are generated in.
-- Every table that holds a programme's data carries program_id (DESIGN.md, "Scaling out").

CREATE TABLE api_keys (
  id         text COLLATE "C" PRIMARY KEY,
  kind       text NOT NULL CHECK (kind IN ('operator', 'program')),
  program_id text COLLATE "C",
  -- SHA-256 of the secret: keys are 256 random bits, so a fast hash is enough and the secret is never stored.
  key_hash   bytea NOT NULL UNIQUE,
  last4      text NOT NULL,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz,
  CHECK ((kind = 'operator') = (program_id IS NULL))
);

CREATE TABLE idempotency_keys (
  principal_id    text COLLATE "C" NOT NULL,
  key             text NOT NULL,
  request_method  text NOT NULL,
  request_path    text NOT NULL,
  request_hash    bytea NOT NULL,
  response_status integer NOT NULL,
  response_body   jsonb NOT NULL,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (principal_id, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

CREATE TABLE events (
  id         text COLLATE "C" PRIMARY KEY,
  type       text NOT NULL,
  program_id text COLLATE "C",
  created    timestamptz NOT NULL,
  data       jsonb NOT NULL,
  -- Consumers read in (txid, seq) order and only rows whose transaction id is below the oldest one still
  -- running: those rows are final, so a consumer never skips an event that commits late.
  txid       xid8 NOT NULL DEFAULT pg_current_xact_id(),
  seq        bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX events_program_id ON events (program_id, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_txid_seq ON events (txid, seq);

CREATE TABLE outbox_consumers (
  name       text COLLATE "C" PRIMARY KEY,
  last_txid  xid8 NOT NULL DEFAULT '0',
  last_seq   bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL
);

CREATE TABLE audit_log (
  seq         bigint PRIMARY KEY CHECK (seq > 0),
  id          text COLLATE "C" NOT NULL UNIQUE,
  occurred_at timestamptz NOT NULL,
  actor_type  text NOT NULL,
  actor_id    text NOT NULL,
  action      text NOT NULL,
  program_id  text COLLATE "C",
  target_type text,
  target_id   text,
  request_id  text,
  -- References only (ids, codes, counts): personal data stays in its own tables, where it can be erased.
  details     jsonb NOT NULL,
  prev_hash   bytea NOT NULL,
  hash        bytea NOT NULL UNIQUE
);
CREATE INDEX audit_log_program_id ON audit_log (program_id, seq);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);

CREATE FUNCTION lantau_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION lantau_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION lantau_audit_log_append_only();
