-- Issue 9: what the risk features count per merchant (risk/merchant-counters.ts). A busy merchant sees thousands
-- of authorizations an hour, too many to count from the authorizations table on every decision, so each minute's
-- counts are kept in one row, incremented by the writes of the decisions that happened in it.
--
-- Platform-wide, without program_id (like fx_rates): a merchant's activity is the merchant's, whichever
-- programmes' cards it sees, and a fraudster testing stolen numbers tries cards of any programme. The rows hold
-- counts only, nothing about a card or a cardholder.
CREATE TABLE risk_merchant_minutes (
  -- The acceptor id, or the merchant's name where there is none.
  merchant_key    text COLLATE "C" NOT NULL CHECK (char_length(merchant_key) BETWEEN 1 AND 200),
  -- The minute's start.
  minute          timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
  authorizations  integer NOT NULL CHECK (authorizations >= 0),
  declines        integer NOT NULL CHECK (declines BETWEEN 0 AND authorizations),
  -- Authorizations that were their card's first at this merchant.
  new_cards       integer NOT NULL CHECK (new_cards BETWEEN 0 AND authorizations),
  PRIMARY KEY (merchant_key, minute)
);
-- Pruning: rows older than the longest merchant window are deleted by minute.
CREATE INDEX risk_merchant_minutes_minute ON risk_merchant_minutes (minute);
