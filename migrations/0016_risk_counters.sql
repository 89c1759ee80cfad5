-- The risk counters become counters of any key (risk/shared-counters.ts). Incrementing a merchant's row inside each
-- authorization's transaction cost about 15% of authorization throughput (a busy merchant's row is a hot row every
-- decision waits on), so each process now counts in memory as its authorizations commit and meets the others here,
-- about once a second and off the decision's path: it adds what it counted since its last visit and reads back
-- what the others added. The same is wanted of devices and IP addresses (device_count_1h), so one table holds every
-- counter, under keys named by their kind: `merchant:<merchant key>`, `device:<64 hex digits of a blind index>`.
-- A device's `new_cards` stays 0: a card's first authorization at a merchant is the merchant's count.
--
-- Still platform-wide, still counts only: a device's key is a blind index, which says nothing about the device or
-- its address without the key it was made with. Rows written under the old name are merchants' and keep counting.
ALTER TABLE risk_merchant_minutes RENAME TO risk_counter_minutes;
ALTER TABLE risk_counter_minutes RENAME COLUMN merchant_key TO counter_key;
-- Keys carry their kind's name in front: a merchant's (up to 200 characters) takes the new form; a device's is
-- 71 characters.
ALTER TABLE risk_counter_minutes DROP CONSTRAINT risk_merchant_minutes_merchant_key_check;
UPDATE risk_counter_minutes SET counter_key = 'merchant:' || counter_key;
ALTER TABLE risk_counter_minutes ADD CONSTRAINT risk_counter_minutes_counter_key_check
  CHECK (char_length(counter_key) BETWEEN 1 AND 240);
-- The other constraints and the indexes keep their meaning and take the table's name (renaming the primary key
-- renames its index).
ALTER TABLE risk_counter_minutes RENAME CONSTRAINT risk_merchant_minutes_pkey
  TO risk_counter_minutes_pkey;
ALTER TABLE risk_counter_minutes RENAME CONSTRAINT risk_merchant_minutes_minute_check
  TO risk_counter_minutes_minute_check;
ALTER TABLE risk_counter_minutes RENAME CONSTRAINT risk_merchant_minutes_authorizations_check
  TO risk_counter_minutes_authorizations_check;
ALTER TABLE risk_counter_minutes RENAME CONSTRAINT risk_merchant_minutes_check
  TO risk_counter_minutes_declines_check;
ALTER TABLE risk_counter_minutes RENAME CONSTRAINT risk_merchant_minutes_check1
  TO risk_counter_minutes_new_cards_check;
-- Pruning: rows older than the longest window are deleted by minute.
ALTER INDEX risk_merchant_minutes_minute RENAME TO risk_counter_minutes_minute;
