"""kernbench dashboard: the router (st.navigation) and the shared framing (store picker).

Start it with `kernbench dashboard [--store DIR]`, or directly:
`streamlit run dashboard/app.py -- --store DIR [--asv-results DIR]`. Without --store the
store is $KERNBENCH_STORE, else ./kernbench_store; the sidebar can point at another one.
asv results (for the Trends page's simulator-speed view) come from --asv-results, else
$KERNBENCH_ASV_RESULTS, else ./.asv/results.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the project root.
_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
if _PROJECT_ROOT not in sys.path:
    sys.path.insert(0, _PROJECT_ROOT)

from dashboard import data, urlstate, widgets  # noqa: E402
from traces.asv_results import resolve_asv_results  # noqa: E402
from traces.layout import is_object_url  # noqa: E402
from traces.store import store_spec  # noqa: E402


def _store_typed() -> None:
    """Sidebar callback: the typed folder becomes the chosen store, in the URL too."""
    st.session_state[urlstate.CHOSEN_STORE_KEY] = st.session_state[widgets.STORE_KEY]
    st.query_params[urlstate.STORE] = st.session_state[widgets.STORE_KEY]


def store_picker() -> None:
    """Sidebar: the run store folder. A link's `?store=` wins, then the folder chosen
    earlier in this session, then --store, $KERNBENCH_STORE or the default. The choice is
    written back to the URL, so every link and copied URL carries it."""
    from_url = st.query_params.get(urlstate.STORE)
    if from_url:
        st.session_state[urlstate.CHOSEN_STORE_KEY] = from_url
    elif urlstate.CHOSEN_STORE_KEY not in st.session_state:
        spec = store_spec(widgets.store_argument(sys.argv[1:]))
        # An s3:// URL stays as typed; a folder is normalised as a path.
        st.session_state[urlstate.CHOSEN_STORE_KEY] = (
            spec if is_object_url(spec) else str(Path(spec))
        )
    chosen = st.session_state[urlstate.CHOSEN_STORE_KEY]
    st.session_state[widgets.STORE_KEY] = chosen
    st.sidebar.text_input(
        "Run store",
        key=widgets.STORE_KEY,
        on_change=_store_typed,
        help="Folder of the run store (kernbench run --store DIR writes there).",
    )
    st.query_params[urlstate.STORE] = chosen
    store = widgets.current_store()
    if isinstance(store, str) or store.is_dir():
        n_runs = int(data.store_fingerprint(str(store)).split("-", 1)[0])
        where = widgets.md_code(store)
        st.sidebar.caption(f"{n_runs:,} run{'s' if n_runs != 1 else ''} in {where}")
    else:
        st.sidebar.caption(f"{widgets.md_code(store)} does not exist yet")
    if widgets.ASV_KEY not in st.session_state:
        st.session_state[widgets.ASV_KEY] = str(
            resolve_asv_results(widgets.asv_results_argument(sys.argv[1:]))
        )
    if st.sidebar.button("Reload", help="Look for new runs (also happens on any interaction)"):
        st.rerun()


# The tab icon is a file shipped here: an emoji or icon name would be fetched from a CDN.
FAVICON = Path(__file__).resolve().parent / "static" / "favicon.png"
st.set_page_config(page_title="kernbench", page_icon=str(FAVICON), layout="wide")
pages = [
    st.Page(widgets.PAGE_RUNS, title="Runs", icon=":material/table_rows:", default=True),
    st.Page(widgets.PAGE_RUN, title="Run", icon=":material/monitoring:"),
    st.Page(widgets.PAGE_COMPARE, title="Compare", icon=":material/compare_arrows:"),
    st.Page(widgets.PAGE_TRENDS, title="Trends", icon=":material/trending_up:"),
    st.Page(widgets.PAGE_OVERVIEW, title="Overview", icon=":material/dashboard:"),
    st.Page("app_pages/sweep.py", title="Sweep", icon=":material/grid_on:"),
]
page = st.navigation(pages)
store_picker()
page.run()
