"""The router every route module uses: answers documented by their models, and exactly the
fields the handler gave.

Handlers return what the services build (dicts); the route validates it against its
`response_model` (an `Answer` refuses a field it does not declare) and answers only the
fields that were given (`exclude_unset`), so a field that is sometimes absent (a scheduled
transition's date) stays absent instead of turning into a null.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

from admin_api.problems import COMMON


class AnswerRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)


def router(**kwargs: Any) -> APIRouter:
    """An `APIRouter` of `AnswerRoute`s that documents the common problems."""
    return APIRouter(route_class=AnswerRoute, responses=COMMON, **kwargs)
