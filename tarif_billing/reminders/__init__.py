"""Collections: payment reminders (seed 003, Business Central's reminder automation).

Reminder terms and their levels (`levels`, with `date_formula` grace periods and due dates), the
actions an automation runs in order (`create`, `issue`, `send`, settings in `options`), its
cadence (`cadence`) and one run of the automations due (`runner`). The batch's `collections` job
and the admin API both use this package (docs/collections.md)."""
