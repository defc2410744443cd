-- Reserved for the billing cycles migration (another branch); this placeholder is dropped when
-- that branch is merged.
SELECT 1;
