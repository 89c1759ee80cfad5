-- Issue 12: an ISO 8583 advice (0120) of the network's stand-in decision can arrive for an authorization Lantau
-- already decided (its answer came too late); the network's decision is then applied to it and recorded as an update.
ALTER TABLE authorization_updates DROP CONSTRAINT authorization_updates_kind_check;
ALTER TABLE authorization_updates
  ADD CONSTRAINT authorization_updates_kind_check CHECK (kind IN ('increment', 'reversal', 'expiry', 'advice'));

-- A stand-in approval the wallet could not hold anything of has no ledger hold to time out: the expiry job finds it here.
CREATE INDEX authorizations_unheld_expiry ON authorizations (expires_at)
  WHERE status = 'pending' AND cardinality(hold_ids) = 0;
