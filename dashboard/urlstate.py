"""The view's state in the URL, so a copied link reproduces it for a colleague.

Every page reads its choices from query parameters and writes them back; links between
pages (st.switch_page) go through `switch_page` here, which adds the chosen store. Values
a URL names are resolved, never silently replaced: a run id may be a unique prefix, a
commit a unique prefix of its hash (a "short hash"); anything else that does not match an
option is reported (see `Resolved.problem`) and the page shows it as a warning.

Query parameters (strings): store (run store folder), run (Run page), mode, a, b
(Compare: baseline and candidate run), workload, params (canonical params JSON, or
`__any__`), metric, commit_a, commit_b, and the page-specific ones each page documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

STORE = "store"
# Session key of the chosen store (a plain key: widget keys are dropped on page switches).
CHOSEN_STORE_KEY = "kb_chosen_store"
# Separator of a multi-valued parameter (values are workload names, run ids, hashes).
LIST_SEPARATOR = ","


@dataclass(frozen=True)
class Resolved:
    """What a URL value named: the option it resolves to, or why it resolves to none."""

    value: str | None
    problem: str | None = None


def resolve_exact(options: Sequence[Any], wanted: str) -> Resolved:
    """`wanted` if it is one of `options` (compared as text), else a problem."""
    texts = {str(option): option for option in options}
    if wanted in texts:
        return Resolved(texts[wanted])
    return Resolved(None, "is not one of the choices here")


def resolve_prefix(options: Sequence[Any], wanted: str) -> Resolved:
    """`wanted` as an option, else the one option it is a prefix of (case-insensitively,
    as hex hashes are written either way), else a problem naming how many matched."""
    exact = resolve_exact(options, wanted)
    if exact.value is not None or not wanted:
        return exact
    lowered = wanted.lower()
    matches = [o for o in options if str(o).lower().startswith(lowered)]
    if len(matches) == 1:
        return Resolved(matches[0])
    if matches:
        shown = ", ".join(str(m)[:12] for m in matches[:4]) + (", ..." if len(matches) > 4 else "")
        return Resolved(None, f"matches {len(matches)} choices ({shown})")
    return Resolved(None, "matches none of the choices here")


def split_list(text: str | None, separator: str = LIST_SEPARATOR) -> list[str]:
    """The values of a multi-valued parameter ("" and None give none)."""
    return [part for part in (text or "").split(separator) if part]


def chosen_store() -> str | None:
    """The store folder chosen in the sidebar (app.py), None before the sidebar ran."""
    return st.session_state.get(CHOSEN_STORE_KEY)


def link_params(**params: Any) -> dict[str, str]:
    """Query parameters for a link to another view: `params` (None values left out) plus
    the chosen store, so the linked page reads the same store."""
    query = {name: str(value) for name, value in params.items() if value is not None}
    if (store := chosen_store()) is not None:
        query.setdefault(STORE, store)
    return query


def switch_page(page: str, **params: Any) -> None:
    """Open `page` (a script path relative to app.py) with `params` and the chosen store."""
    st.switch_page(page, query_params=link_params(**params))


def link_url(page_url_path: str, **params: Any) -> str:
    """A relative URL of a page (its url path, e.g. "run") with query parameters and the
    store, for markdown links and link columns."""
    from urllib.parse import urlencode

    return f"{page_url_path}?{urlencode(link_params(**params))}"
