-- Issue 11, continued: AML monitoring adds up a cardholder's wallets in several currencies, sees loads refused at a
-- KYC cap, and tells a device from an IP address (and sees the device and IP a cardholder was onboarded from).
-- Columns are added without defaults and checks NOT VALID (as in 0017): no rewrite and no scan under the lock.

-- Each amount in the programme's reporting currency at the rate of its time, when its own currency is another and a
-- rate was found (src/compliance/aml/parameters.ts).
ALTER TABLE aml_activity ADD COLUMN converted_amount bigint;
ALTER TABLE aml_activity ADD COLUMN converted_currency text;
ALTER TABLE aml_activity ADD CONSTRAINT aml_activity_converted_check
  CHECK (converted_amount >= 0 AND (converted_amount IS NULL) = (converted_currency IS NULL)) NOT VALID;

-- A load the KYC tier refused (it would pass a cap), and a cardholder's onboarding (the device and IP it came from).
ALTER TABLE aml_activity DROP CONSTRAINT aml_activity_kind_check;
ALTER TABLE aml_activity ADD CONSTRAINT aml_activity_kind_check CHECK (kind IN ('load', 'load_declined', 'unload',
  'authorization', 'capture', 'force_post', 'refund', 'card_created', 'card_closed', 'onboarding')) NOT VALID;

-- What device_key is the blind index of: a device's fingerprint, or an IP address (shared far more innocently:
-- carrier-grade NAT, office and campus networks), so the two are counted apart. Keys stored before this migration
-- have none: device and IP indexes are keyed apart, so a key's other rows tell its kind.
ALTER TABLE aml_activity ADD COLUMN device_kind text;
ALTER TABLE aml_activity ADD CONSTRAINT aml_activity_device_kind_check
  CHECK (device_kind IS NULL OR (device_kind IN ('device', 'ip') AND device_key IS NOT NULL)) NOT VALID;

-- Loads are read a year back for the yearly tier rule; everything else a few weeks. Only the monitor writes here.
CREATE INDEX aml_activity_cardholder_kind ON aml_activity (cardholder_id, kind, at);
-- A backtest of a programme's scenario settings reads the programme's activity over a range.
CREATE INDEX aml_activity_program ON aml_activity (program_id, at);

-- Which of a device's fingerprint or an IP address the authorization's device_index is the blind index of.
ALTER TABLE authorizations ADD COLUMN device_kind text;
ALTER TABLE authorizations ADD CONSTRAINT authorizations_device_kind_check
  CHECK (device_kind IN ('device', 'ip')) NOT VALID;
