-- Issue 10: KYC. A cardholder's kyc_status follows their latest verification (src/compliance/kyc/status.ts), and
-- each programme's tier limits (maximum stored value, loads in a rolling year, per-transaction maximum) are enforced
-- on loads and in the authorization decision.

-- `documents_required`: the provider needs more from the cardholder before it can decide. Every existing row holds
-- one of the four statuses the old check allowed, so the wider check is added NOT VALID: no scan of the table under
-- the exclusive lock ALTER TABLE takes; new and updated rows are checked.
ALTER TABLE cardholders DROP CONSTRAINT cardholders_kyc_status_check;
ALTER TABLE cardholders ADD CONSTRAINT cardholders_kyc_status_check
  CHECK (kyc_status IN ('unverified', 'pending', 'verified', 'rejected', 'documents_required')) NOT VALID;

-- One row per verification a cardholder went through (`kyc_…`), with the provider that ran it and its reference
-- there (how the provider's later answer finds it). Pending and documents_required are open; verified and rejected
-- close it. At most one is open per cardholder. `reasons` are the provider's codes (`id_document_required`), never
-- personal data: that stays in the cardholder's encrypted document.
CREATE TABLE kyc_verifications (
  id                 text COLLATE "C" PRIMARY KEY,
  program_id         text COLLATE "C" NOT NULL REFERENCES programs (id),
  cardholder_id      text COLLATE "C" NOT NULL REFERENCES cardholders (id),
  provider           text NOT NULL CHECK (provider ~ '^[a-z][a-z0-9_]{0,31}$'),
  provider_reference text CHECK (length(provider_reference) BETWEEN 1 AND 255),
  status             text NOT NULL CHECK (status IN ('pending', 'verified', 'rejected', 'documents_required')),
  reasons            text[] NOT NULL DEFAULT '{}' CHECK (cardinality(reasons) <= 20),
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  -- When it closed (verified or rejected); NULL while open.
  completed_at       timestamptz,
  CHECK ((completed_at IS NULL) = (status IN ('pending', 'documents_required')))
);
CREATE INDEX kyc_verifications_cardholder ON kyc_verifications (cardholder_id, id);
CREATE INDEX kyc_verifications_program ON kyc_verifications (program_id, id);
CREATE UNIQUE INDEX kyc_verifications_open ON kyc_verifications (cardholder_id)
  WHERE status IN ('pending', 'documents_required');
CREATE UNIQUE INDEX kyc_verifications_reference ON kyc_verifications (provider, provider_reference)
  WHERE provider_reference IS NOT NULL;

-- A programme's tier limits (src/compliance/kyc/tiers.ts): `{ "unverified": { "HKD": { "max_balance", …} }, … }`
-- in minor units, only what the programme set; NULL, or a currency it did not set, is the defaults (HKD only).
ALTER TABLE programs ADD COLUMN kyc_tiers jsonb CHECK (kyc_tiers IS NULL OR jsonb_typeof(kyc_tiers) = 'object');
