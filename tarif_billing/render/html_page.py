"""The document as an HTML page, from a Jinja2 template an operator may replace.

The built-in template is `templates/invoice.html.j2`; a file of the same name in `templates_dir`
overrides it. The template receives `doc`, the JSON form of `json_form.document_dict` (strings
only, documented in docs/invoices.md), so it never formats money itself. Autoescape is on:
descriptions and names come from customers and operators.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from tarif_billing.document import Document
from tarif_billing.render.json_form import document_dict

TEMPLATE = "invoice.html.j2"


@lru_cache(maxsize=8)
def _environment(templates_dir: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(templates_dir))
    loaders.append(jinja2.PackageLoader("tarif_billing.render", "templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a typo in an operator's template fails loudly
        keep_trailing_newline=True,
    )


def render_html(document: Document, templates_dir: Path | None = None) -> str:
    """The page for `document`, from the operator's template if `templates_dir` holds one."""
    template = _environment(templates_dir).get_template(TEMPLATE)
    return template.render(doc=document_dict(document))
