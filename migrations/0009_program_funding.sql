-- A programme's funding account can no longer pay out more than the programme paid in: loads draw on money the
-- programme deposited (`POST /v1/programs/{id}/fundings`), recorded as coming from its `program_bank` account (the
-- programme's money held at the issuer's bank, outside the ledger's limits).
UPDATE ledger_accounts SET debits_must_not_exceed_credits = true
WHERE kind = 'funding' AND debits_pending + debits_posted <= credits_posted;

INSERT INTO ledger_accounts (id, program_id, currency, kind, owner_id, created_at)
SELECT program_id || ':program_bank:' || currency, program_id, currency, 'program_bank', program_id, created_at
FROM ledger_accounts WHERE kind = 'funding'
ON CONFLICT (id) DO NOTHING;
