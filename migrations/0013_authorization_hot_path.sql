-- Issue 8: the authorization path writes an authorization and a ledger transfer per decision, many per
-- transaction. A foreign key is checked row by row, by a lookup that also takes a KEY SHARE lock on the referenced
-- row; measured here it doubled the cost of inserting an authorization. Every row these keys pointed at is read and
-- locked by the writer in the same transaction before it inserts (the card, its cardholder, wallet and programme for
-- an authorization; both accounts and the pending hold for a transfer, which the ledger refuses when missing), and
-- none of those rows is ever deleted, so the keys guarded nothing the writer does not already check. `lantau ledger
-- verify` checks that every transfer names existing accounts.
ALTER TABLE authorizations
  DROP CONSTRAINT authorizations_program_id_fkey,
  DROP CONSTRAINT authorizations_card_id_fkey,
  DROP CONSTRAINT authorizations_cardholder_id_fkey,
  DROP CONSTRAINT authorizations_account_id_fkey;

ALTER TABLE ledger_transfers
  DROP CONSTRAINT ledger_transfers_debit_account_id_fkey,
  DROP CONSTRAINT ledger_transfers_credit_account_id_fkey,
  DROP CONSTRAINT ledger_transfers_pending_id_fkey;

-- Most authorizations (every one from the API's simulator) carry no network identity: a unique index over the ones
-- that do is the same constraint, without an index entry per NULL.
ALTER TABLE authorizations DROP CONSTRAINT authorizations_network_key_key;
CREATE UNIQUE INDEX authorizations_network_key ON authorizations (network_key) WHERE network_key IS NOT NULL;
