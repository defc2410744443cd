-- Placeholder so this branch migrates alone (versions must be 1..n without gaps): the real
-- migration 0021 comes from another branch of issue #12; drop this file when merging.
SELECT 1;
