-- Placeholder: version 14 is the billing tables' migration (bills, invoices, payments), written
-- on another branch. This file only keeps the versions gapless until that one replaces it.
SELECT 1;
