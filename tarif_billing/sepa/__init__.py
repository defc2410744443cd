"""SEPA Core direct debit: mandates, pain.008 collections of due invoices, the bank's results
(pain.002 status reports, camt.054 debit/credit notifications). docs/sepa.md."""
