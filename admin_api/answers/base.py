"""What every answer model shares."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    """A response body: exactly the fields the service returns, no others."""

    model_config = ConfigDict(extra="forbid")


# A moment the service already gives as ISO 8601 text (from Postgres JSON, or formatted by the
# domain): passed on as it is, documented as a date-time.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]

# An amount as exact decimal text ("10.00", "-0.36"): money is never a float.
Amount = Annotated[str, Field(description='a decimal as text, e.g. "10.00"')]


def free_form(description: str) -> Any:
    """A JSON object whose shape belongs to another document (the catalog, a sharing policy):
    documented by a description rather than properties."""
    return Field(description=description)
