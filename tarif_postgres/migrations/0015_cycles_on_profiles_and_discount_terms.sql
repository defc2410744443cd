-- One billing cycle per billing profile: the profile holds the rule (interval, billing day,
-- anchor month, time zone; tarif_billing/cycles.py) and a subscription follows the profile of
-- its balance group, so it has no cycle, and no profile, of its own any more.
ALTER TABLE billing_profiles ADD COLUMN time_zone text;
-- the catalog's time zone (the one the engine's cycles already use), UTC without a catalog
UPDATE billing_profiles SET time_zone = coalesce(
    (SELECT document->>'timezone' FROM catalog_versions ORDER BY version DESC LIMIT 1), 'UTC');
ALTER TABLE billing_profiles ALTER COLUMN time_zone SET NOT NULL;
ALTER TABLE billing_profiles ADD COLUMN anchor_month smallint NOT NULL DEFAULT 1
    CHECK (anchor_month BETWEEN 1 AND 12);
-- a weekly billing day is now an ISO weekday; the old 8-28 on a weekly profile meant nothing
-- (no cycle was computed from it): such profiles start on Mondays
UPDATE billing_profiles SET billing_day = 1
WHERE billing_interval = 'weekly' AND billing_day > 7;
ALTER TABLE billing_profiles DROP CONSTRAINT billing_profiles_billing_day_check;
ALTER TABLE billing_profiles ADD CONSTRAINT billing_profiles_billing_day_check CHECK (
    CASE WHEN billing_interval = 'weekly' THEN billing_day BETWEEN 1 AND 7
         ELSE billing_day BETWEEN 1 AND 31 END);

ALTER TABLE subscriptions DROP COLUMN billing_interval;
ALTER TABLE subscriptions DROP COLUMN billing_day;
-- the profile is the balance group's (balance_groups.billing_profile_id): a copy here went
-- stale whenever the group moved to another profile
ALTER TABLE subscriptions DROP COLUMN billing_profile_id;

-- A purchase keeps what its price is computed from (tarif_catalog.pricing.price_line): the
-- exact unit price and the discount terms in the order they apply, so a change of quantity
-- (or a billing run) prices it as buying it afresh would.
ALTER TABLE purchases ADD COLUMN unit_price numeric CHECK (unit_price >= 0);
ALTER TABLE purchases ADD COLUMN discount_terms jsonb NOT NULL DEFAULT '[]';
-- purchases made before: the unit price as the list price shows it; the offer's discounts as
-- the newest catalog has them (as recorded, in fixed amounts, when the offer left it), then the
-- coupons' terms, then a voucher (all of what is left)
UPDATE purchases SET unit_price = list_price / quantity;
ALTER TABLE purchases ALTER COLUMN unit_price SET NOT NULL;
UPDATE purchases p SET discount_terms = (
    SELECT CASE WHEN o.offer IS NULL THEN recorded.terms ELSE listed.terms END
        || coupon_terms.terms || voucher_terms.terms
    FROM (SELECT (SELECT document FROM catalog_versions ORDER BY version DESC LIMIT 1)
                 -> (CASE WHEN p.origin = 'plan' THEN 'bundles' ELSE 'packs' END)
                 -> p.offer AS offer) o,
    LATERAL (
        SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   'source', 'offer', 'id', d->>'id', 'percent', d->>'percent',
                   'amount', d->>'amount')) ORDER BY n), '[]') AS terms
        FROM jsonb_array_elements(coalesce(o.offer->'discounts', '[]'))
             WITH ORDINALITY AS x (d, n)
        WHERE NOT d ? 'products' OR d->'products' ? p.product) listed,
    LATERAL (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'source', 'offer', 'id', d->>'id', 'amount', d->>'amount') ORDER BY n),
               '[]') AS terms
        FROM jsonb_array_elements(p.discounts) WITH ORDINALITY AS x (d, n)
        WHERE d->>'source' = 'offer') recorded,
    LATERAL (
        SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   'source', 'coupon', 'id', k.code, 'percent', k.percent::text,
                   'amount', k.amount::text)) ORDER BY n), '[]') AS terms
        FROM unnest(p.coupons) WITH ORDINALITY AS x (code, n)
        JOIN coupons k ON k.code = x.code) coupon_terms,
    LATERAL (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'source', 'voucher', 'id', d->>'id', 'percent', '100')), '[]') AS terms
        FROM jsonb_array_elements(p.discounts) AS d
        WHERE d->>'source' = 'voucher') voucher_terms);
