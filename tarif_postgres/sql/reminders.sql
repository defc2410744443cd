-- Collections: reminder terms and levels, automations, reminders and their run log (tarif_billing/reminders/, admin_api/reminders.py; docs/collections.md).

-- name: all_terms
-- Every reminder term (a small table, read once per action).
SELECT code, description, max_reminders, default_language FROM reminder_terms ORDER BY code;

-- name: all_levels
-- Every level of every term, in order.
SELECT terms_code, level, grace_period, due_date_formula, fee_amount::text AS fee_amount,
       fee_currency, fee_tax
FROM reminder_levels ORDER BY terms_code, level;

-- name: create_candidates
-- Billing profiles (locked) with an unpaid invoice due before a date, whose terms pass the filter, after a profile id, matching the customer criteria ({where} on customers c). $1 after profile id, $2 default terms, $3 terms filter (empty: any), $4 only these profile ids (null: all), $5 at most this many, $6 due before this date
SELECT p.id, p.customer_id, p.currency, p.time_zone,
       coalesce(p.reminder_terms, $2::text) AS terms_code
FROM billing_profiles p
JOIN customers c ON c.id = p.customer_id
WHERE p.id > $1
  AND coalesce(p.reminder_terms, $2::text) IS NOT NULL
  AND (cardinality($3::text[]) = 0 OR coalesce(p.reminder_terms, $2::text) = ANY($3::text[]))
  AND ($4::bigint[] IS NULL OR p.id = ANY($4::bigint[]))
  AND EXISTS (SELECT 1 FROM invoices i
              WHERE i.billing_profile_id = p.id AND i.status = 'billing' AND i.kind = 'invoice'
                AND i.amount_due > 0 AND i.due_date < $6::date)
  AND {where}
ORDER BY p.id
LIMIT $5
FOR UPDATE OF p;

-- name: open_invoices
-- The profiles' issued, unpaid invoices with their reminder history: on hold, a reminder fee, on a draft reminder already, the level and due date of the last reminder issued for each. $1 profile ids
SELECT i.id, i.billing_profile_id, i.number, i.issue_date, i.due_date, i.total, i.amount_due,
       EXISTS (SELECT 1 FROM reminder_holds h WHERE h.invoice_id = i.id) AS on_hold,
       EXISTS (SELECT 1 FROM reminders f WHERE f.fee_invoice_id = i.id) AS fee,
       EXISTS (SELECT 1 FROM reminder_lines l JOIN reminders d ON d.id = l.reminder_id
               WHERE l.invoice_id = i.id AND d.status = 'draft') AS in_draft,
       coalesce(last.level, 0) AS reminded, last.due_date AS last_due
FROM invoices i
LEFT JOIN LATERAL (
    SELECT l.level, r.due_date
    FROM reminder_lines l JOIN reminders r ON r.id = l.reminder_id
    WHERE l.invoice_id = i.id AND l.kind = 'overdue' AND r.status IN ('issued', 'sent')
    ORDER BY l.level DESC, r.id DESC
    LIMIT 1
) last ON true
WHERE i.billing_profile_id = ANY($1::bigint[]) AND i.status = 'billing' AND i.kind = 'invoice'
  AND i.amount_due > 0 AND i.number IS NOT NULL
ORDER BY i.billing_profile_id, i.due_date, i.id;

-- name: insert_reminders
-- Draft reminders; a profile with a draft at the level already is skipped. $1 profile ids, $2 customer ids, $3 terms, $4 levels, $5 currencies, $6 document dates, $7 due dates, $8 overdue totals (text), $9 automation id, $10 created at
INSERT INTO reminders (billing_profile_id, customer_id, terms_code, level, currency,
                       document_date, posting_date, due_date, overdue_total, automation_id,
                       created_at)
SELECT u.profile, u.customer, u.terms, u.level, u.currency, u.doc, u.doc, u.due,
       u.overdue::numeric, $9, $10
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::text[], $6::date[],
            $7::date[], $8::text[]) AS u(profile, customer, terms, level, currency, doc, due, overdue)
ON CONFLICT (billing_profile_id, level) WHERE status = 'draft' DO NOTHING
RETURNING id, billing_profile_id;

-- name: insert_reminder_lines
-- The lines of new reminders. $1 reminder ids, $2 invoice ids, $3 kinds, $4 levels, $5 numbers, $6 issue dates, $7 due dates, $8 totals (text), $9 amounts due (text), $10 on hold
INSERT INTO reminder_lines (reminder_id, invoice_id, kind, level, number, issue_date, due_date,
                            total, amount_due, on_hold)
SELECT u.r, u.i, u.kind, u.level, u.number, u.issued, u.due, u.total::numeric, u.amount::numeric,
       u.hold
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::text[], $6::date[],
            $7::date[], $8::text[], $9::text[], $10::boolean[])
     AS u(r, i, kind, level, number, issued, due, total, amount, hold);

-- name: issue_candidates
-- Draft reminders after an id whose terms pass the filter, matching the customer criteria ({where} on customers c). $1 after reminder id, $2 terms filter (empty: any), $3 only these reminder ids (null: all), $4 at most this many
SELECT r.id
FROM reminders r JOIN customers c ON c.id = r.customer_id
WHERE r.status = 'draft' AND r.id > $1
  AND (cardinality($2::text[]) = 0 OR r.terms_code = ANY($2::text[]))
  AND ($3::bigint[] IS NULL OR r.id = ANY($3::bigint[]))
  AND {where}
ORDER BY r.id
LIMIT $4;

-- name: lock_draft_reminder
-- A draft reminder to issue, locked (null if another run has it or it is no longer a draft). $1 reminder id
SELECT r.id, r.billing_profile_id, r.customer_id, r.terms_code, r.level, r.currency,
       r.document_date, r.posting_date, r.due_date, r.created_at, p.time_zone
FROM reminders r JOIN billing_profiles p ON p.id = r.billing_profile_id
WHERE r.id = $1 AND r.status = 'draft'
FOR UPDATE OF r SKIP LOCKED;

-- name: overdue_still_due
-- What is still due today on a reminder's overdue invoices. $1 reminder id
SELECT coalesce(sum(greatest(i.amount_due, 0)), 0)
FROM reminder_lines l JOIN invoices i ON i.id = l.invoice_id
WHERE l.reminder_id = $1 AND l.kind = 'overdue' AND i.status = 'billing';

-- name: cancel_draft
-- A draft reminder cancelled; null when it is not a draft. $1 reminder id, $2 at, $3 reason
UPDATE reminders SET status = 'cancelled', cancelled_at = $2, cancel_reason = $3,
       last_error = NULL, failed_at = NULL
WHERE id = $1 AND status = 'draft'
RETURNING id;

-- name: mark_issued
-- A draft reminder issued. $1 reminder id, $2 issued at, $3 document date, $4 posting date, $5 due date, $6 fee amount (text), $7 fee invoice id
UPDATE reminders SET status = 'issued', issued_at = $2, document_date = $3, posting_date = $4,
       due_date = $5, fee_amount = $6::numeric, fee_invoice_id = $7, last_error = NULL,
       failed_at = NULL
WHERE id = $1 AND status = 'draft';

-- name: mark_reminder_failed
-- An action failed on a reminder: its error, kept until an action succeeds on it. $1 reminder id, $2 error
UPDATE reminders SET last_error = $2, failed_at = now() WHERE id = $1;

-- name: lock_fee_profile
-- The billing profile a reminder fee is invoiced to, locked like a billing run locks it. $1 profile id
SELECT id, customer_id, currency, time_zone, tax, credit_balance
FROM billing_profiles WHERE id = $1
FOR UPDATE;

-- name: ensure_fee_ledger
-- The ledger reminder fees are posted to (revenue:reminder_fees).
INSERT INTO ledgers (name, description) VALUES ('reminder_fees', 'Fees of issued payment reminders')
ON CONFLICT (name) DO NOTHING;

-- name: insert_fee_bill
-- A bill of its own for a reminder fee, straight to billing. $1 profile id, $2 customer id, $3 currency, $4 period start, $5 period end
INSERT INTO bills (billing_profile_id, customer_id, status, kind, currency, period_start,
                   period_end, billed_at)
VALUES ($1, $2, 'billing', 'now', $3, $4, $5, now())
RETURNING id;

-- name: insert_fee_item
-- The fee on its bill. $1 bill id, $2 source, $3 description, $4 amount (text), $5 tax, $6 ledger
INSERT INTO bill_items (bill_id, source, kind, description, amount, tax, ledger)
VALUES ($1, $2, 'one_time', $3, $4::numeric, $5, $6);

-- name: send_candidates
-- Issued or sent reminders sent fewer than a number of times, after an id, whose terms pass the filter, matching the customer criteria ({where} on customers c). $1 after reminder id, $2 terms filter (empty: any), $3 only these reminder ids (null: all), $4 sent fewer times than this, $5 at most this many
SELECT r.id, r.sent_count, r.last_sent_at, p.time_zone
FROM reminders r
JOIN billing_profiles p ON p.id = r.billing_profile_id
JOIN customers c ON c.id = r.customer_id
WHERE r.status IN ('issued', 'sent') AND r.sent_count < $4 AND r.id > $1
  AND (cardinality($2::text[]) = 0 OR r.terms_code = ANY($2::text[]))
  AND ($3::bigint[] IS NULL OR r.id = ANY($3::bigint[]))
  AND {where}
ORDER BY r.id
LIMIT $5;

-- name: lock_sendable
-- A reminder to send, locked while it is sent, if it was sent this many times (null otherwise, or if another run has it). $1 reminder id, $2 times sent
SELECT id FROM reminders
WHERE id = $1 AND status IN ('issued', 'sent') AND sent_count = $2
FOR UPDATE SKIP LOCKED;

-- name: mark_sent
-- One more sending of a reminder. $1 reminder id, $2 at, $3 times sent now
UPDATE reminders SET status = 'sent', sent_count = $3, first_sent_at = coalesce(first_sent_at, $2),
       last_sent_at = $2, last_error = NULL, failed_at = NULL
WHERE id = $1 AND sent_count = $3 - 1;

-- name: mail_facts
-- What a reminder's e-mail says and where it goes: the reminder, its fee invoice, the customer, the billing contact, the profile's language and the terms' default language. $1 reminder id
SELECT r.id, r.billing_profile_id, r.terms_code, r.level, r.currency, r.document_date,
       r.posting_date, r.due_date, r.overdue_total, r.fee_amount, r.sent_count,
       f.number AS fee_number, f.total AS fee_total,
       c.id AS customer_id, c.first_name, c.last_name, c.organisation, c.email,
       (SELECT k.email FROM account_contacts k
        WHERE k.account_id = c.account_id AND k.tag = 'billing' AND k.email IS NOT NULL) AS billing_email,
       p.language, t.default_language
FROM reminders r
JOIN customers c ON c.id = r.customer_id
JOIN billing_profiles p ON p.id = r.billing_profile_id
JOIN reminder_terms t ON t.code = r.terms_code
LEFT JOIN invoices f ON f.id = r.fee_invoice_id
WHERE r.id = $1;

-- name: lines_of
-- A reminder's lines: overdue ones first, then by due date. $1 reminder id
SELECT l.invoice_id, l.kind, l.level, l.number, l.issue_date, l.due_date, l.total::text AS total,
       l.amount_due::text AS amount_due, l.on_hold
FROM reminder_lines l
WHERE l.reminder_id = $1
ORDER BY l.kind = 'unpaid', l.due_date, l.invoice_id;

-- name: unpaid_of_profile
-- A profile's issued invoices with something due now (reminder fees too), oldest first. $1 profile id
SELECT id, number FROM invoices
WHERE billing_profile_id = $1 AND status = 'billing' AND amount_due > 0 AND number IS NOT NULL
ORDER BY due_date, id;

-- name: level_texts
-- A level's texts, per language. $1 terms code, $2 level
SELECT language, subject, beginning_text, ending_text
FROM reminder_level_texts WHERE terms_code = $1 AND level = $2;

-- name: due_automations
-- Active automations due by a time, optionally some only. $1 process now, $2 only these ids (null: all)
SELECT a.id FROM reminder_automations a
WHERE a.active AND a.next_run_at IS NOT NULL AND a.next_run_at <= $1
  AND ($2::bigint[] IS NULL OR a.id = ANY($2::bigint[]))
ORDER BY a.id;

-- name: active_automations
-- Active automations, optionally some only. $1 only these ids (null: all)
SELECT a.id FROM reminder_automations a
WHERE a.active AND ($1::bigint[] IS NULL OR a.id = ANY($1::bigint[]))
ORDER BY a.id;

-- name: automations_of_retried_run
-- The automations the run a retry run retries went through. $1 the retry run's id
SELECT DISTINCT r.automation_id AS id
FROM job_runs j JOIN reminder_runs r ON r.job_run_id = j.retry_of
WHERE j.id = $1
ORDER BY 1;

-- name: automation_by_id
-- One automation with its terms filter. $1 automation id
SELECT a.id, a.name, a.description, a.criteria, a.cadence, a.formula, a.starts_at, a.time_zone,
       a.active, a.next_run_at, a.last_run_at, a.created_at, a.updated_at,
       coalesce((SELECT array_agg(t.terms_code ORDER BY t.terms_code)
                 FROM reminder_automation_terms t WHERE t.automation_id = a.id),
                '{}') AS terms
FROM reminder_automations a WHERE a.id = $1;

-- name: actions_of
-- An automation's actions in the order they run. $1 automation id
SELECT id, automation_id, position, kind, description, options, stop_on_error
FROM reminder_actions WHERE automation_id = $1 ORDER BY position;

-- name: open_run
-- The run of an automation for a job run and "process now": the one a crash left running, else a new one. $1 automation id, $2 job run id, $3 trigger, $4 process now
WITH found AS (
    SELECT id FROM reminder_runs
    WHERE automation_id = $1 AND job_run_id IS NOT DISTINCT FROM $2 AND process_now = $4
      AND status = 'running'
    ORDER BY id DESC LIMIT 1
), made AS (
    INSERT INTO reminder_runs (automation_id, job_run_id, trigger, process_now)
    SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM found)
    RETURNING id
)
SELECT id FROM found UNION ALL SELECT id FROM made;

-- name: record_action
-- What an action of a run did. $1 run id, $2 position, $3 action id, $4 kind, $5 status, $6 processed, $7 failed, $8 error
INSERT INTO reminder_run_actions (run_id, position, action_id, kind, status, processed, failed,
                                  error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (run_id, position) DO UPDATE
    SET action_id = EXCLUDED.action_id, kind = EXCLUDED.kind, status = EXCLUDED.status,
        processed = EXCLUDED.processed, failed = EXCLUDED.failed, error = EXCLUDED.error,
        finished_at = now();

-- name: finish_run
-- A run is over. $1 run id, $2 status
UPDATE reminder_runs SET status = $2, finished_at = now() WHERE id = $1;

-- name: advance_automation
-- A scheduled automation ran: its next run (unless another run moved it already). $1 automation id, $2 the run that was due, $3 the next run, $4 process now
UPDATE reminder_automations SET next_run_at = $3, last_run_at = $4
WHERE id = $1 AND next_run_at IS NOT DISTINCT FROM $2;

-- name: mark_automation_started
-- A started automation ran (its schedule, if any, is left alone). $1 automation id, $2 process now
UPDATE reminder_automations SET last_run_at = $2 WHERE id = $1;

-- The admin API's statements (admin_api/reminders.py).

-- name: terms_page
-- One page of reminder terms by code. $1 after this code ('' on page 1), $2 page size
SELECT code, description, max_reminders, default_language, created_at, updated_at
FROM reminder_terms WHERE code > $1 ORDER BY code LIMIT $2;

-- name: terms_by_code
-- One term. $1 code
SELECT code, description, max_reminders, default_language, created_at, updated_at
FROM reminder_terms WHERE code = $1;

-- name: lock_terms
-- One term, locked while its levels change. $1 code
SELECT code, description, max_reminders, default_language
FROM reminder_terms WHERE code = $1 FOR UPDATE;

-- name: insert_terms
-- A new term; null when the code exists. $1 code, $2 description, $3 max reminders, $4 default language
INSERT INTO reminder_terms (code, description, max_reminders, default_language)
VALUES ($1, $2, $3, $4)
ON CONFLICT (code) DO NOTHING
RETURNING code;

-- name: update_terms
-- A term's fields. $1 code, $2 description, $3 max reminders, $4 default language
UPDATE reminder_terms SET description = $2, max_reminders = $3, default_language = $4,
       updated_at = now()
WHERE code = $1;

-- name: terms_in_use
-- What still uses a term (null: nothing). $1 code
SELECT CASE
    WHEN EXISTS (SELECT 1 FROM reminders WHERE terms_code = $1) THEN 'reminders'
    WHEN EXISTS (SELECT 1 FROM billing_profiles WHERE reminder_terms = $1) THEN 'billing profiles'
    WHEN EXISTS (SELECT 1 FROM reminder_automation_terms WHERE terms_code = $1) THEN 'automations'
END;

-- name: delete_terms
-- A term and its levels. $1 code
DELETE FROM reminder_terms WHERE code = $1 RETURNING code;

-- name: levels_of
-- The levels of some terms, in order. $1 codes
SELECT terms_code, level, grace_period, due_date_formula, fee_amount::text AS fee_amount,
       fee_currency, fee_tax
FROM reminder_levels WHERE terms_code = ANY($1::text[]) ORDER BY terms_code, level;

-- name: texts_of
-- The level texts of some terms. $1 codes
SELECT terms_code, level, language, subject, beginning_text, ending_text
FROM reminder_level_texts WHERE terms_code = ANY($1::text[])
ORDER BY terms_code, level, language;

-- name: level_count
-- How many levels a term has. $1 code
SELECT count(*) FROM reminder_levels WHERE terms_code = $1;

-- name: put_level
-- A level created or replaced. $1 code, $2 level, $3 grace period, $4 due date formula, $5 fee (text), $6 fee currency, $7 fee tax
INSERT INTO reminder_levels (terms_code, level, grace_period, due_date_formula, fee_amount,
                             fee_currency, fee_tax)
VALUES ($1, $2, $3, $4, $5::numeric, $6, $7)
ON CONFLICT (terms_code, level) DO UPDATE
    SET grace_period = EXCLUDED.grace_period, due_date_formula = EXCLUDED.due_date_formula,
        fee_amount = EXCLUDED.fee_amount, fee_currency = EXCLUDED.fee_currency,
        fee_tax = EXCLUDED.fee_tax, updated_at = now();

-- name: delete_level_texts
-- A level's texts (before they are written again). $1 code, $2 level
DELETE FROM reminder_level_texts WHERE terms_code = $1 AND level = $2;

-- name: insert_level_texts
-- A level's texts. $1 code, $2 level, $3 languages, $4 subjects, $5 beginning texts, $6 ending texts
INSERT INTO reminder_level_texts (terms_code, level, language, subject, beginning_text,
                                  ending_text)
SELECT $1, $2, u.language, u.subject, u.beginning, u.ending
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[])
     AS u(language, subject, beginning, ending);

-- name: delete_level
-- A level (and its texts). $1 code, $2 level
DELETE FROM reminder_levels WHERE terms_code = $1 AND level = $2 RETURNING level;

-- name: touch_terms
-- A term changed (its levels). $1 code
UPDATE reminder_terms SET updated_at = now() WHERE code = $1;

-- name: tax_exists
-- Whether a tax exists. $1 name
SELECT EXISTS (SELECT 1 FROM taxes WHERE name = $1);

-- name: missing_terms
-- The codes that are no reminder terms. $1 codes
SELECT x.code FROM unnest($1::text[]) AS x(code)
WHERE NOT EXISTS (SELECT 1 FROM reminder_terms t WHERE t.code = x.code)
ORDER BY 1;

-- name: missing_customer_types
-- The names that are no customer types. $1 names
SELECT x.name FROM unnest($1::text[]) AS x(name)
WHERE NOT EXISTS (SELECT 1 FROM customer_types t WHERE t.name = x.name)
ORDER BY 1;

-- name: missing_attributes
-- The names that are no custom attributes. $1 names
SELECT x.name FROM unnest($1::text[]) AS x(name)
WHERE NOT EXISTS (SELECT 1 FROM custom_attributes a WHERE a.name = x.name)
ORDER BY 1;

-- name: automations_page
-- One page of automations by id. $1 after this id (0 on page 1), $2 page size
SELECT id FROM reminder_automations WHERE id > $1 ORDER BY id LIMIT $2;

-- name: lock_automation
-- An automation, locked while it or its actions change. $1 id
SELECT id, name, description, criteria, cadence, formula, starts_at, time_zone, active,
       next_run_at
FROM reminder_automations WHERE id = $1 FOR UPDATE;

-- name: insert_automation
-- A new automation; null when the name is taken. $1 name, $2 description, $3 criteria, $4 cadence, $5 formula, $6 starts at, $7 time zone, $8 active, $9 next run
INSERT INTO reminder_automations (name, description, criteria, cadence, formula, starts_at,
                                  time_zone, active, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: update_automation
-- An automation's fields. $1 id, $2 name, $3 description, $4 criteria, $5 cadence, $6 formula, $7 starts at, $8 time zone, $9 active, $10 next run
UPDATE reminder_automations SET name = $2, description = $3, criteria = $4, cadence = $5,
       formula = $6, starts_at = $7, time_zone = $8, active = $9, next_run_at = $10,
       updated_at = now()
WHERE id = $1;

-- name: name_taken
-- Whether another automation has the name. $1 name, $2 this automation's id
SELECT EXISTS (SELECT 1 FROM reminder_automations WHERE name = $1 AND id <> $2);

-- name: clear_automation_terms
-- An automation's terms filter, before it is written again. $1 automation id
DELETE FROM reminder_automation_terms WHERE automation_id = $1;

-- name: insert_automation_terms
-- An automation's terms filter. $1 automation id, $2 codes
INSERT INTO reminder_automation_terms (automation_id, terms_code)
SELECT $1, unnest($2::text[]);

-- name: delete_automation
-- An automation with its actions and run log (its reminders keep their history). $1 id
DELETE FROM reminder_automations WHERE id = $1 RETURNING id;

-- name: insert_action
-- An action, last in the order. $1 automation id, $2 kind, $3 description, $4 options, $5 stop on error
INSERT INTO reminder_actions (automation_id, position, kind, description, options, stop_on_error)
SELECT $1, coalesce(max(position), 0) + 1, $2, $3, $4, $5
FROM reminder_actions WHERE automation_id = $1
RETURNING id;

-- name: action_of
-- One action of an automation. $1 automation id, $2 action id
SELECT id, automation_id, position, kind, description, options, stop_on_error
FROM reminder_actions WHERE automation_id = $1 AND id = $2;

-- name: update_action
-- An action's settings. $1 action id, $2 description, $3 options, $4 stop on error
UPDATE reminder_actions SET description = $2, options = $3, stop_on_error = $4 WHERE id = $1;

-- name: delete_action
-- An action; the ones after it move up. $1 automation id, $2 action id
WITH gone AS (
    DELETE FROM reminder_actions WHERE automation_id = $1 AND id = $2 RETURNING position
)
UPDATE reminder_actions SET position = position - 1
WHERE automation_id = $1 AND position > (SELECT position FROM gone);

-- name: swap_actions
-- Two actions change places (the position constraint is checked at the statement's end). $1 automation id, $2 one position, $3 the other
UPDATE reminder_actions SET position = CASE WHEN position = $2 THEN $3 ELSE $2 END
WHERE automation_id = $1 AND position IN ($2, $3);

-- name: insert_start_run
-- A Start: a queued run of the collections job for one automation. $1 run name, $2 process now, $3 criteria, $4 requested by
INSERT INTO job_runs (job_type, job_name, trigger, process_now, criteria, requested_by)
VALUES ('collections', $1, 'manual', $2, $3, $4)
RETURNING id, status, process_now;

-- name: runs_page
-- One page of an automation's runs with what each action did, newest first. $1 automation id, $2 before this id, $3 page size
SELECT r.id, r.automation_id, r.job_run_id, r.trigger, r.process_now, r.status, r.started_at,
       r.finished_at,
       coalesce((SELECT json_agg(json_build_object(
                     'position', a.position, 'action_id', a.action_id, 'kind', a.kind,
                     'status', a.status, 'processed', a.processed, 'failed', a.failed,
                     'error', a.error, 'finished_at', a.finished_at) ORDER BY a.position)
                 FROM reminder_run_actions a WHERE a.run_id = r.id), '[]') AS actions
FROM reminder_runs r
WHERE r.automation_id = $1 AND r.id < $2
ORDER BY r.id DESC LIMIT $3;

-- name: reminders_page
-- One page of reminders, newest first, filtered (each filter null: any). $1 customer id, $2 billing profile id, $3 level, $4 status, $5 terms, $6 before this id, $7 page size
SELECT r.id, r.billing_profile_id, r.customer_id, r.terms_code AS terms, r.level, r.status,
       r.currency, r.document_date, r.posting_date, r.due_date,
       r.overdue_total::text AS overdue_total, r.fee_amount::text AS fee_amount,
       r.fee_invoice_id, f.number AS fee_invoice_number, r.automation_id, r.created_at,
       r.issued_at, r.sent_count, r.first_sent_at, r.last_sent_at, r.cancelled_at,
       r.cancel_reason, r.last_error
FROM reminders r LEFT JOIN invoices f ON f.id = r.fee_invoice_id
WHERE ($1::bigint IS NULL OR r.customer_id = $1)
  AND ($2::bigint IS NULL OR r.billing_profile_id = $2)
  AND ($3::int IS NULL OR r.level = $3)
  AND ($4::text IS NULL OR r.status = $4)
  AND ($5::text IS NULL OR r.terms_code = $5)
  AND r.id < $6
ORDER BY r.id DESC LIMIT $7;

-- name: reminder_answer
-- One reminder as the API shows it. $1 reminder id
SELECT r.id, r.billing_profile_id, r.customer_id, r.terms_code AS terms, r.level, r.status,
       r.currency, r.document_date, r.posting_date, r.due_date,
       r.overdue_total::text AS overdue_total, r.fee_amount::text AS fee_amount,
       r.fee_invoice_id, f.number AS fee_invoice_number, r.automation_id, r.created_at,
       r.issued_at, r.sent_count, r.first_sent_at, r.last_sent_at, r.cancelled_at,
       r.cancel_reason, r.last_error
FROM reminders r LEFT JOIN invoices f ON f.id = r.fee_invoice_id
WHERE r.id = $1;

-- name: lock_profile_terms
-- A billing profile's reminder terms and language, locked. $1 profile id
SELECT id, reminder_terms, language FROM billing_profiles WHERE id = $1 FOR UPDATE;

-- name: set_profile_terms
-- A billing profile's reminder terms and language. $1 profile id, $2 terms, $3 language
UPDATE billing_profiles SET reminder_terms = $2, language = $3, updated_at = now()
WHERE id = $1;

-- name: invoice_to_hold
-- An invoice that may be put on hold. $1 invoice id
SELECT id, kind, status, number FROM invoices WHERE id = $1;

-- name: put_hold
-- An invoice on hold (the reason replaced if it was). $1 invoice id, $2 reason, $3 by
INSERT INTO reminder_holds (invoice_id, reason, held_by) VALUES ($1, $2, $3)
ON CONFLICT (invoice_id) DO UPDATE SET reason = EXCLUDED.reason, held_by = EXCLUDED.held_by,
    held_at = now()
RETURNING invoice_id, reason, held_by, held_at;

-- name: delete_hold
-- An invoice off hold. $1 invoice id
DELETE FROM reminder_holds WHERE invoice_id = $1 RETURNING invoice_id, reason, held_by, held_at;
