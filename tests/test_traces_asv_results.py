"""Reading asv's results folder into a table."""

from asv_fixtures import COMMITS, NOOP, TRACK, write_asv_results

from traces.asv_results import load_asv_results, resolve_asv_results, results_fingerprint


def test_rows_follow_asvs_parameter_product_and_skip_failures(tmp_path):
    """One row per parameter combination, in itertools.product order; None values dropped."""
    table = load_asv_results(write_asv_results(tmp_path)).to_pylist()
    noop = [r for r in table if r["benchmark"].endswith("time_noop")]
    first = [(r["params"], r["value"]) for r in noop if r["commit"] == COMMITS[0]]
    assert first == [
        ("topology='default', launches=1", NOOP[0][0]),
        ("topology='default', launches=8", NOOP[0][1]),
        ("topology='sip4x4', launches=8", NOOP[0][3]),
    ]
    assert {r["unit"] for r in noop} == {"seconds"} and {r["machine"] for r in noop} == {"ci-box"}
    track = sorted(
        (r["commit"], r["value"], r["params"], r["unit"])
        for r in table if r["benchmark"].endswith("track_latency_ns")
    )  # fmt: skip
    assert track == [(COMMITS[0], TRACK[0], "", "ns"), (COMMITS[1], TRACK[1], "", "ns")]


def test_missing_folder_is_an_empty_table_and_fingerprint_tracks_files(tmp_path, monkeypatch):
    """No results yet is not an error; the fingerprint changes when a file is written."""
    assert load_asv_results(tmp_path / "nothing").num_rows == 0
    assert results_fingerprint(tmp_path / "nothing") == ""
    results = write_asv_results(tmp_path)
    before = results_fingerprint(results)
    (results / "ci-box" / "cccccccc-virtualenv-py3.11.json").write_text("{}")
    assert results_fingerprint(results) != before
    monkeypatch.setenv("KERNBENCH_ASV_RESULTS", str(results))
    assert resolve_asv_results() == results
    assert resolve_asv_results("elsewhere").name == "elsewhere"
