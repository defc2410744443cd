-- A purchase of an offer that waives the connect fee (`waive_connect_fee` of a bundle or pack:
-- a call that starts on its free units pays none) keeps it, so every balance it grants, its
-- renewed cycles' included, reaches the engine with the flag (outbox.sql, account_document).
ALTER TABLE purchases ADD COLUMN waives_connect_fee boolean NOT NULL DEFAULT false;
