-- Exchange rates for authorizations in a currency other than the card's (DESIGN.md, "Conventions").
--
-- Platform-wide, so no program_id (the one exception to "every table carries its programme id"): the operator
-- maintains one set of rates that every programme converts with, and each programme adds its own markup
-- (programs.fx_markup_bps). Rows are never updated: a new rate is a new row with a later valid_from, so what a
-- past conversion used can always be found again.

CREATE TABLE fx_rates (
  id          text COLLATE "C" PRIMARY KEY,
  -- The merchant's currency (what the rate converts from) and the card's (what it converts to), ISO 4217.
  base        text NOT NULL CHECK (base ~ '^[A-Z]{3}$'),
  quote       text NOT NULL CHECK (quote ~ '^[A-Z]{3}$'),
  -- Quote-currency units per ONE base-currency unit, exact: a decimal, never a float. Bounds as the API's:
  -- more than zero, below 1,000,000,000 and at most 12 digits after the point.
  rate        numeric NOT NULL CHECK (rate > 0 AND rate < 1000000000 AND scale(rate) <= 12),
  -- Where the rate came from: "ecb", "operator", a provider's name.
  source      text NOT NULL CHECK (source ~ '^[a-z][a-z0-9_]{0,31}$'),
  valid_from  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL,
  -- The audit actor's id (an operator key or operator user).
  created_by  text NOT NULL,
  CHECK (base <> quote)
);

-- "The latest rate for (base, quote) valid at time t": one index descent to the first row with valid_from <= t.
-- Two rates with the same valid_from: the one created later (the greater id) wins.
CREATE INDEX fx_rates_pair_valid_from ON fx_rates (base, quote, valid_from DESC, id DESC);
-- Listing one pair's rates newest first (GET /v1/fx_rates?base=…&quote=…) without a sort.
CREATE INDEX fx_rates_pair_id ON fx_rates (base, quote, id);
