"""The job types and the criteria each accepts. The admin API validates a job's criteria with
`criteria_model(job_type)`; the batch runs the type's `run_once` (`billing_batch.jobs.registry`)."""

from __future__ import annotations

from pydantic import BaseModel

from tarif_jobs.criteria import Criteria
from tarif_jobs.reminder_criteria import CollectionsCriteria
from tarif_jobs.report_criteria import ExportCriteria, FinancialReportCriteria

# job type -> the model of its criteria
CRITERIA: dict[str, type[BaseModel]] = {
    "billing": Criteria,
    "invoicing": Criteria,
    "purchase_check": Criteria,
    "plan_transition": Criteria,
    "contract_change": Criteria,
    "deferred_activation": Criteria,
    "payment_collection": Criteria,
    "collections": CollectionsCriteria,
    "usage_invoicing": Criteria,
    "financial_reporting": FinancialReportCriteria,  # ledgers, ledger groups, ..., the period
    "export": ExportCriteria,  # data type, format, period and period field, destinations
    "account_deletion": Criteria,
}

JOB_TYPES = tuple(CRITERIA)


def criteria_model(job_type: str) -> type[BaseModel]:
    """The criteria model of `job_type`; KeyError for an unknown type."""
    return CRITERIA[job_type]
