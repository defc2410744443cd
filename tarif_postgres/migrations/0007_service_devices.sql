-- Devices of a service (e.g. IMEI and a name), and the index the validity watcher uses.
ALTER TABLE services ADD COLUMN devices jsonb NOT NULL DEFAULT '[]';
CREATE INDEX services_valid_from ON services (valid_from) WHERE valid_from IS NOT NULL;
CREATE INDEX services_valid_to ON services (valid_to) WHERE valid_to IS NOT NULL;
