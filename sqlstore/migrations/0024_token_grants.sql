-- A restricted token's grants (tandem.TokenGrant, as JSON): NULL for a
-- token with all of its principal's rights. Job attempt tokens are
-- restricted to their run's experiment.
ALTER TABLE identity_tokens ADD COLUMN grants TEXT;
