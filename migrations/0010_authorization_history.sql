-- Every request an authorization answered, in order (Stripe's request_history): the first authorization, then each
-- increment, reversal and expiry with its own answer, so a declined increment is visible on the object itself.
ALTER TABLE authorizations ADD COLUMN request_history jsonb NOT NULL DEFAULT '[]';
