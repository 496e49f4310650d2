-- The pending effects a batch's commands leave; an idempotent retry's are
-- already there.
INSERT INTO pending_effects (effect_id, payload)
SELECT * FROM UNNEST($1::UUID[], $2::TEXT[])
ON CONFLICT (effect_id) DO NOTHING
