-- Issue 9: the merchant and device windows of 24 hours and 7 days besides 1 minute and 1 hour, and approved amounts
-- besides counts and declines (risk/shared-counters.ts).
--
-- A week of minutes would be 10,080 rows per key, so the long windows are summed over hours: a second table, one row
-- per key and hour, of the same counts as the minutes'. Every authorization counts in its minute's row and in its
-- hour's; the minutes serve the 1-minute and 1-hour windows and are kept an hour, the hours serve the 24-hour and
-- 7-day windows and are kept a week. A second table rather than a kind of row in the first: each keeps its rows'
-- meaning (what counts the minutes, or the hours, of a key is a sum over one table), and each is pruned by its own
-- column and horizon.
--
-- Still platform-wide, still counts only: an amount is a sum of approved authorizations' amounts, in each card's
-- currency's minor units (a merchant's cards are of many currencies: the sum is a measure of activity, not money
-- owed), and says nothing about a card or a cardholder.
ALTER TABLE risk_counter_minutes ADD COLUMN amount bigint NOT NULL DEFAULT 0 CHECK (amount >= 0);

CREATE TABLE risk_counter_hours (
  -- As in risk_counter_minutes: `merchant:<merchant key>` or `device:<64 hex digits of a blind index>`.
  counter_key     text COLLATE "C" NOT NULL CHECK (char_length(counter_key) BETWEEN 1 AND 240),
  -- The hour's start, whole in UTC (whatever the session's time zone).
  hour            timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
  authorizations  integer NOT NULL CHECK (authorizations >= 0),
  declines        integer NOT NULL
    CONSTRAINT risk_counter_hours_declines_check CHECK (declines BETWEEN 0 AND authorizations),
  -- Authorizations that were their card's first at this merchant (a device's stays 0).
  new_cards       integer NOT NULL
    CONSTRAINT risk_counter_hours_new_cards_check CHECK (new_cards BETWEEN 0 AND authorizations),
  -- The approved authorizations' amounts; 0 for declines.
  amount          bigint NOT NULL DEFAULT 0 CHECK (amount >= 0),
  PRIMARY KEY (counter_key, hour)
);
-- Pruning: rows older than the longest window are deleted by hour.
CREATE INDEX risk_counter_hours_hour ON risk_counter_hours (hour);

-- Which rows changed since a process last read them. Reading back every row of every key a process holds, once a
-- second, grows with what it holds (a busy merchant has 230 rows in reach: 61 minutes and 169 hours); instead each
-- process reads the rows written since its last read, and a key's whole history only the first time it holds it.
--
-- "Since" is by transaction, not by a sequence: a number taken from a sequence in one transaction can commit after a
-- larger one taken in another has been read, and a reader that went on from the larger would never see the smaller.
-- So every row carries the id of the transaction that last wrote it, and a reader keeps the snapshot of its last
-- read (pg_current_snapshot(): every transaction below xmax except those still running, listed in xip, had
-- committed or rolled back). A row version that snapshot did not see was written by a transaction at or above its
-- xmax or in its xip, and the next read asks for exactly those; a version it saw was read then, or by an earlier
-- read, unless the key was not held then, and then it is read with the key's history. Exact, whatever the time
-- writes take to commit, and a long transaction elsewhere in the database costs one more index probe, not a
-- re-read of everything written since it began. Re-reading a row is harmless: a process takes the others' share of a
-- row as the row less what it wrote there itself.
--
-- Set by a trigger, so that no write can change a row without marking it (a process of the previous version,
-- during a rolling deploy, writes minutes only and does not know the column). The index costs what the design
-- costs: a row's update changes an indexed column, so it is no longer a heap-only update.
ALTER TABLE risk_counter_minutes ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE risk_counter_hours ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX risk_counter_minutes_txid ON risk_counter_minutes (txid);
CREATE INDEX risk_counter_hours_txid ON risk_counter_hours (txid);
CREATE FUNCTION lantau_risk_counter_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.txid := pg_current_xact_id();
  RETURN NEW;
END
$$;
CREATE TRIGGER risk_counter_minutes_written BEFORE INSERT OR UPDATE ON risk_counter_minutes
  FOR EACH ROW EXECUTE FUNCTION lantau_risk_counter_written();
CREATE TRIGGER risk_counter_hours_written BEFORE INSERT OR UPDATE ON risk_counter_hours
  FOR EACH ROW EXECUTE FUNCTION lantau_risk_counter_written();

-- The last hour's counts, already in minutes, are the hours' first: the long windows start with them, not empty.
INSERT INTO risk_counter_hours (counter_key, hour, authorizations, declines, new_cards, amount)
SELECT counter_key, date_trunc('hour', minute, 'UTC'), sum(authorizations)::integer, sum(declines)::integer,
  sum(new_cards)::integer, sum(amount)
FROM risk_counter_minutes
GROUP BY counter_key, date_trunc('hour', minute, 'UTC');
