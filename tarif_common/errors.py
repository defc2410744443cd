"""One error hierarchy for every process.

Each error carries the business result it maps to; `tarif_common.results` holds the one table from
result to Diameter Result-Code, gRPC status and HTTP status. The class docstring is the default
message.
"""

from __future__ import annotations

from typing import Any

from tarif_common.results import Result


class TarifError(Exception):
    """Tarif failed to handle the request."""

    result: Result = Result.UNABLE_TO_COMPLY

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.__class__.__name__).strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class InvalidRequest(TarifError):
    """The request is malformed."""

    result = Result.MALFORMED_REQUEST

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class CatalogError(TarifError):
    """The catalog document is invalid."""

    result = Result.MALFORMED_REQUEST

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ProvisioningError(TarifError):
    """The provisioning document is invalid."""

    result = Result.MALFORMED_REQUEST


class RatingError(TarifError):
    """The usage could not be rated."""

    result = Result.RATING_FAILED


class UnknownService(RatingError):
    """The service type is not in the catalog."""


class MissingRatingField(RatingError):
    """A mandatory rating field is missing."""


class NoTariff(RatingError):
    """No tariff or rate matches the usage."""


class UsageTooLarge(RatingError):
    """The usage could cost more than the balance store computes exactly (2**53 scaled
    micro-units)."""

    def __init__(self) -> None:
        super().__init__("usage too large to price exactly")


class SubscriberUnknown(TarifError):
    """No subscriber has this service identifier."""

    result = Result.USER_UNKNOWN


class StoreUnavailable(TarifError):
    """The balance store cannot be reached."""

    result = Result.UNAVAILABLE


class NotFound(TarifError):
    """No such object."""

    result = Result.NOT_FOUND


class Conflict(TarifError):
    """The object's state does not allow this change."""

    result = Result.CONFLICT


class Duplicate(Conflict):
    """An object with this key exists already."""

    def __init__(self, message: str | None = None, *, constraint: str = "") -> None:
        self.constraint = constraint
        super().__init__(message)


class MissingReference(Conflict):
    """The change refers to an object that does not exist."""

    def __init__(self, message: str | None = None, *, constraint: str = "") -> None:
        self.constraint = constraint
        super().__init__(message)


class Refused(TarifError):
    """The engine refused the operation."""

    def __init__(self, result: Result, message: str, state: dict[str, Any] | None = None) -> None:
        # the engine's own result picks the status in the one table (CREDIT_LIMIT_REACHED: 402)
        self.result = result
        # what the request left recorded (e.g. the purchases it made, now `refused`), so a
        # client knows what exists after the refusal; empty when nothing was kept
        self.state = state or {}
        super().__init__(message)


class DatabaseUnavailable(StoreUnavailable):
    """The database cannot be reached."""


class DatabaseError(TarifError):
    """The database refused the statement."""

    def __init__(self, message: str | None = None, *, sqlstate: str = "") -> None:
        self.sqlstate = sqlstate
        super().__init__(message)
