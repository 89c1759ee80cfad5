-- Issue 11, part 4: retention. AMLO (Cap. 615) keeps a customer's records at least five years after the business
-- relationship ends; the PDPO (Cap. 486) keeps personal data no longer than its purpose needs. So a cardholder's
-- personal data is purged five years after their relationship ended, unless a case or an alert still holds it
-- (src/issuing/retention.ts). What is purged is the personal data; the records (ids, amounts, times, statuses, the
-- audit log) stay.
--
-- Every column here is added without a default and every check NOT VALID: no table rewrite, and no scan of a large
-- table under the exclusive lock ALTER TABLE takes (existing rows hold NULLs, which every new check accepts).

-- `relationship_ended_at`: when the cardholder last became `inactive` (set by updateCardholder, or at creation as
-- inactive), cleared if they become active again; the five years run from it. Rows made inactive before this
-- migration have none: the purge reads their `updated_at` instead, which is no earlier than the day they became
-- inactive, so it never purges early. `purged_at`: when their personal data was purged. Only an inactive cardholder
-- has either, so a purged cardholder cannot be made active again (their identity is gone: they onboard anew).
ALTER TABLE cardholders
  ADD COLUMN relationship_ended_at timestamptz,
  ADD COLUMN purged_at timestamptz;
ALTER TABLE cardholders ADD CONSTRAINT cardholders_retention_check
  CHECK ((relationship_ended_at IS NULL OR status = 'inactive') AND (purged_at IS NULL OR status = 'inactive'))
  NOT VALID;
-- No index for the purge: building one here would scan the table under a lock that blocks writes. The hourly job
-- walks the table by primary key in batches; an operator with millions of cardholders may add
-- `CREATE INDEX CONCURRENTLY … ON cardholders (relationship_ended_at) WHERE purged_at IS NULL` outside a migration.

-- A decided AML case's personal content (the analyst's grounds, the report package with the subject's particulars)
-- is purged with its cardholder, `purged_at` saying so. 0022 tied the report to the status
-- (`aml_cases_report_when_reported`: reported exactly when a report is kept); that check would refuse the purge, so it is
-- replaced by one that still requires the report of every reported case not purged, and allows it nowhere else.
ALTER TABLE aml_cases ADD COLUMN purged_at timestamptz;
ALTER TABLE aml_cases DROP CONSTRAINT aml_cases_report_when_reported;
ALTER TABLE aml_cases ADD CONSTRAINT aml_cases_report_check
  CHECK (CASE WHEN status = 'reported' THEN report_encrypted IS NOT NULL OR purged_at IS NOT NULL
              ELSE report_encrypted IS NULL END) NOT VALID;
-- Only a decided case is purged: an open or escalated one holds its cardholder's data.
ALTER TABLE aml_cases ADD CONSTRAINT aml_cases_purged_check
  CHECK (purged_at IS NULL OR status IN ('false_positive', 'reported')) NOT VALID;

-- A decided screening alert's grounds (words about the person) and its subject index (a keyed blind index of the
-- screened name, date of birth and nationality: with the key, a guess at them can be confirmed) are purged too.
-- 0021 required grounds on every decided alert (`screening_alerts_grounds_when_decided`) and a subject index on every alert;
-- both now hold for every alert not purged. The candidates stay: they are the list publisher's entries.
ALTER TABLE screening_alerts ADD COLUMN purged_at timestamptz;
ALTER TABLE screening_alerts DROP CONSTRAINT screening_alerts_grounds_when_decided;
ALTER TABLE screening_alerts ADD CONSTRAINT screening_alerts_grounds_check
  CHECK (CASE WHEN status = 'open' THEN grounds_encrypted IS NULL
              ELSE grounds_encrypted IS NOT NULL OR purged_at IS NOT NULL END) NOT VALID;
ALTER TABLE screening_alerts ALTER COLUMN subject_index DROP NOT NULL;
ALTER TABLE screening_alerts ADD CONSTRAINT screening_alerts_subject_check
  CHECK (subject_index IS NOT NULL OR purged_at IS NOT NULL) NOT VALID;
ALTER TABLE screening_alerts ADD CONSTRAINT screening_alerts_purged_check
  CHECK (purged_at IS NULL OR status <> 'open') NOT VALID;
