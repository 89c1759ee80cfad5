-- The ledger: double-entry accounts and two-phase transfers (TigerBeetle's model, DESIGN.md).
-- Balances are kept on the account row and changed only by the ledger's batch write path, which locks the rows it
-- touches in id order; the CHECK constraints restate the invariants so that a bug is refused by the database too.

CREATE TABLE ledger_accounts (
  id                               text COLLATE "C" PRIMARY KEY,
  program_id                       text COLLATE "C" NOT NULL,
  currency                         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  kind                             text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
  owner_id                         text COLLATE "C",
  debits_must_not_exceed_credits   boolean NOT NULL DEFAULT false,
  credits_must_not_exceed_debits   boolean NOT NULL DEFAULT false,
  debits_pending                   bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
  debits_posted                    bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
  credits_pending                  bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
  credits_posted                   bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
  created_at                       timestamptz NOT NULL,
  CHECK (NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)),
  CHECK (NOT debits_must_not_exceed_credits OR debits_pending + debits_posted <= credits_posted),
  CHECK (NOT credits_must_not_exceed_debits OR credits_pending + credits_posted <= debits_posted)
);
CREATE INDEX ledger_accounts_program ON ledger_accounts (program_id, id);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_id) WHERE owner_id IS NOT NULL;

-- One row per transfer; the id is the caller's idempotency key. Rows never change except a pending transfer's
-- resolution (state, resolved_at, resolved_by), which the ledger sets exactly once.
CREATE TABLE ledger_transfers (
  id                  text COLLATE "C" PRIMARY KEY,
  seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  program_id          text COLLATE "C" NOT NULL,
  kind                text NOT NULL CHECK (kind IN ('posted', 'pending', 'post_pending', 'void_pending')),
  debit_account_id    text COLLATE "C" NOT NULL REFERENCES ledger_accounts (id),
  credit_account_id   text COLLATE "C" NOT NULL REFERENCES ledger_accounts (id),
  amount              bigint NOT NULL CHECK (amount > 0),
  currency            text NOT NULL,
  pending_id          text COLLATE "C" REFERENCES ledger_transfers (id),
  timeout_seconds     integer CHECK (timeout_seconds > 0),
  expires_at          timestamptz,
  code                text,
  reference           text,
  created_at          timestamptz NOT NULL,
  state               text CHECK (state IN ('pending', 'posted', 'voided', 'expired')),
  resolved_at         timestamptz,
  resolved_by         text COLLATE "C",
  CHECK (debit_account_id <> credit_account_id),
  CHECK ((kind = 'pending') = (state IS NOT NULL)),
  CHECK ((kind IN ('post_pending', 'void_pending')) = (pending_id IS NOT NULL)),
  CHECK (kind = 'pending' OR (timeout_seconds IS NULL AND expires_at IS NULL)),
  CHECK (state IS NULL OR (state = 'pending') = (resolved_at IS NULL))
);
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account_id, seq);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account_id, seq);
-- A hold is resolved at most once: the database refuses a second post or void even if the code had a bug.
CREATE UNIQUE INDEX ledger_transfers_pending_id ON ledger_transfers (pending_id) WHERE pending_id IS NOT NULL;
-- The expiry job's queue: only open holds with a timeout.
CREATE INDEX ledger_transfers_expiry ON ledger_transfers (expires_at, id)
  WHERE state = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX ledger_transfers_program ON ledger_transfers (program_id, seq);
