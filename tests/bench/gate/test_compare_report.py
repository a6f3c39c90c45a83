"""What ``compare`` shows: sides named by what they are, regressions before the rest,
the noise floor, the identical-data warning, a markdown summary short enough for a PR."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from benchdata import BASE_CONFIG, make_rows, write_run
from click.testing import CliRunner

from gigq.bench.cli import cli
from gigq.bench.gate.compare import IDENTICAL_WARNING
from gigq.bench.gate.versions import GIT, INTERPRETER, PATH, PYPI, SELF, Version

TWO = {**BASE_CONFIG, "workers": 2}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["compare", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def mixed_run(path: Path) -> Path:
    """An A/B run where workers=1 is unchanged and workers=2 got much slower; the
    unchanged configuration comes first in the file, so only sorting puts it last."""
    slow = make_rows([TWO], {"baseline": 1.0, "current": 0.5}, 8, seed=2)
    for row in slow:
        row["trial_id"], row["order"] = f"slow-{row['trial_id']}", row["order"] + 100
    rows = make_rows([BASE_CONFIG], {"baseline": 1.0, "current": 1.0}, 8, seed=1) + slow
    versions = {
        "baseline": {"description": "git HEAD~1 = 3f2a9c1d0e (older)",
                     "name": "HEAD~1 (3f2a9c1d0e)",
                     "kind": GIT, "ref": "HEAD~1", "commit": "3f2a9c1d0e" + "0" * 30,
                     "interpreter": "/tmp/gigq-ab-x/venv-baseline/bin/python"},
        "current": {"description": "working tree /src at 9c1d2e3f4a",
                    "name": "working tree at 9c1d2e3f4a", "kind": SELF, "ref": ".",
                    "interpreter": "/usr/bin/python3"},
    }
    return write_run(path, rows, versions)


def outputs(tmp_path: Path, *args: str) -> tuple[int, str, dict, str, str]:
    """Exit code, terminal, JSON, markdown and HTML of one ``compare``."""
    md, js, page = tmp_path / "c.md", tmp_path / "c.json", tmp_path / "c.html"
    code, out, _ = run(*args, "--markdown", str(md), "--json", str(js), "--html", str(page))
    return code, out, json.loads(js.read_text()), md.read_text(), page.read_text()


# -- labels -------------------------------------------------------------------------


def test_separate_runs_are_named_by_their_path_and_commit(tmp_path: Path) -> None:
    rows = make_rows([BASE_CONFIG], {"current": 1.0}, 6)
    base = write_run(tmp_path / "monday", rows, environment={"git_commit": "a1b2c3d4e5f6a7b8"})
    current = write_run(tmp_path / "tuesday", make_rows([BASE_CONFIG], {"current": 0.95}, 6,
                                                        seed=5),
                        environment={"git_commit": "ffeeddccbbaa0099+dirty"})
    _, out, doc, md, page = outputs(tmp_path, str(base), str(current))
    assert doc["base"]["name"] == f"{base} (commit a1b2c3d4e5)"
    assert doc["current"]["name"] == f"{current} (commit ffeeddccbb+dirty)"
    assert doc["base"]["version"] == "current"  # the label is still there, under its name
    for text in (out, md, page):
        assert str(base) in text and "a1b2c3d4e5" in text
        assert str(current) in text and "ffeeddccbb" in text
    assert f"base {base} (commit a1b2c3d4e5) vs current {current}" in out


def test_ab_sides_are_named_by_revision_not_interpreter(tmp_path: Path) -> None:
    _, out, doc, md, page = outputs(tmp_path, str(mixed_run(tmp_path / "ab")))
    assert doc["base"]["name"] == "HEAD~1 (3f2a9c1d0e)"
    assert doc["base"]["kind"] == GIT and doc["base"]["ref"] == "HEAD~1"
    assert doc["current"]["name"] == "working tree at 9c1d2e3f4a"
    assert "base HEAD~1 (3f2a9c1d0e) vs current working tree at 9c1d2e3f4a" in out
    assert "Base: **HEAD~1 (3f2a9c1d0e)**" in md
    assert "Current: **working tree at 9c1d2e3f4a**" in md
    assert "Base: HEAD~1 (3f2a9c1d0e)" in page
    for text in (out, md, page):
        assert "venv-baseline/bin/python" not in text and "/usr/bin/python3" not in text


def test_a_plain_sweep_side_is_never_named_by_its_interpreter(tmp_path: Path) -> None:
    # What gigq-bench sweep records: the interpreter, no description.
    rows = make_rows([BASE_CONFIG], {"current": 1.0}, 6)
    versions = {"current": {"interpreter": "/opt/py/bin/python3", "description": None,
                            "gigq_version": "0.6.0"}}
    base = write_run(tmp_path / "a", rows, versions, environment={"gigq_version": "0.6.0"})
    current = write_run(tmp_path / "b", rows, versions, environment={"gigq_version": "0.6.0"})
    _, out, doc, _, _ = outputs(tmp_path, str(base), str(current))
    assert doc["base"]["name"] == f"{base} (gigq 0.6.0)"
    assert doc["base"]["description"] == "current"
    assert "/opt/py/bin/python3" not in out


@pytest.mark.parametrize(("version", "name"), [
    (Version("baseline", "HEAD~1", GIT, "/t/venv/bin/python", "git HEAD~1 = 3f2a9c1d0e (x)",
             "3f2a9c1d0e11223344556677889900aabbccddee"), "HEAD~1 (3f2a9c1d0e)"),
    (Version("baseline", "3f2a9c1d", GIT, "/t/venv/bin/python", "git 3f2a9c1d = 3f2a9c1d0e (x)",
             "3f2a9c1d0e11223344556677889900aabbccddee"), "3f2a9c1d0e"),
    (Version("baseline", "gigq==0.5.1", PYPI, "/t/venv/bin/python", "gigq==0.5.1 (package index)",
             info={"gigq_version": "0.5.1"}), "gigq==0.5.1"),
    (Version("baseline", "gigq>=0.5", PYPI, "/t/venv/bin/python", "gigq>=0.5 (package index)",
             info={"gigq_version": "0.5.1"}), "gigq>=0.5 (gigq 0.5.1)"),
    (Version("baseline", "/src/old", PATH, "/t/venv/bin/python", "source tree /src/old"),
     "source tree /src/old"),
    (Version("baseline", "/opt/v051/bin/python", INTERPRETER, "/opt/v051/bin/python",
             "interpreter /opt/v051/bin/python",
             info={"gigq_version": "0.5.1", "gigq_path": "/opt/v051/lib/gigq"}),
     "gigq 0.5.1 at /opt/v051/lib/gigq"),
    (Version("current", ".", SELF, "/usr/bin/python3",
             "working tree /src at 9c1d2e3f4a + uncommitted changes", "9c1d2e3f4a55"),
     "working tree at 9c1d2e3f4a + uncommitted changes"),
])
def test_version_names_say_what_was_built(version: Version, name: str) -> None:
    assert version.name == name
    assert version.identity()["name"] == name


# -- order and folding --------------------------------------------------------------


def test_regressions_come_first_and_the_rest_is_folded(tmp_path: Path) -> None:
    code, out, doc, _, page = outputs(tmp_path, str(mixed_run(tmp_path / "ab")),
                                      "--threshold", "25%")
    assert code == 1
    verdicts = [r["verdict"] for r in doc["rows"]]
    assert verdicts[0] == "slower" and "unchanged" in verdicts
    first_other = next(i for i, v in enumerate(verdicts) if v != "slower")
    assert all(v != "slower" for v in verdicts[first_other:])  # no regression after the rest
    # The terminal table: the first data row is a regression.
    table = out.split("-  ---")[0]
    body = [line for line in out.splitlines() if line.startswith(("slower", "unchanged"))]
    assert body[0].startswith("slower"), table
    # The page: a table of regressions only, then the other rows inside <details>.
    regressions = _between(page, 'id="regression-rows"', "</table>")
    assert "<tr class=\"slower\">" in regressions and "unchanged" not in regressions
    folded = _between(page, '<details class="rest" id="other-rows">', "</details>")
    assert "<tr class=\"unchanged\">" in folded and "<tr class=\"slower\">" not in folded
    assert page.index('id="regression-rows"') < page.index('id="other-rows"')
    assert 'class="rows sortable"' in folded  # the kit's table.js sorts both tables
    assert re.search(r'<td class="num" data-sort="[0-9.e+-]+">', folded)


def test_identical_data_is_said_loudly_and_keeps_the_exit_code(tmp_path: Path) -> None:
    first = mixed_run(tmp_path / "first")
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    code, out, doc, md, page = outputs(tmp_path, str(first), "--current-version", "current",
                                       "--base-version", "current", str(copy))
    assert code == 0  # every row unchanged: the verdicts stand, the warning says why
    assert doc["identical_data"] is True
    assert doc["warnings"][0] == IDENTICAL_WARNING
    assert out.splitlines()[1] == f"!! {IDENTICAL_WARNING}"
    assert "identical data" in md.splitlines()[0] and "IDENTICAL DATA" in md
    assert 'class="callout bad identical" role="alert"' in page
    # One real difference is enough for a real comparison.
    _, _, doc, _, _ = outputs(tmp_path, str(first))
    assert doc["identical_data"] is False
    assert IDENTICAL_WARNING not in doc["warnings"]


# -- markdown -----------------------------------------------------------------------


def test_markdown_lists_regressions_and_top_changes_and_folds_the_full_table(
        tmp_path: Path) -> None:
    configs = [{**BASE_CONFIG, "workers": w} for w in (1, 2, 3, 4, 6, 8, 12, 16)]
    rows = make_rows(configs, {"baseline": 1.0, "current": 1.0}, 8, noise=0.08, seed=4)
    for row in rows:  # workers=16 slows down by half
        if row["workers"] == 16 and row["version"] == "current":
            row["jobs_per_sec"] *= 0.5
            row["cpu_per_1k_jobs"] *= 2
    path = write_run(tmp_path / "r", rows, {"baseline": "b", "current": "c"})
    _, _, doc, md, _ = outputs(tmp_path, str(path), "--threshold", "25%")
    short, _, folded = md.partition("<details><summary>All ")
    assert "**Regressions (" in short
    slower = [r for r in doc["rows"] if r["verdict"] == "slower"]
    assert slower and all(r["label"] == "workers=16" for r in slower)
    regressions = _between(short, "**Regressions (", "**Largest other changes")
    assert _table_rows(regressions) == len(slower)
    top = _between(short, "**Largest other changes (top 5)**", "\n\n|")
    others = _table_rows(short.split("**Largest other changes")[1])
    assert others == 5, top
    # The top changes are the largest moves among the rest, largest first.
    moves = sorted((abs(_log(r["slowdown_factor"])) for r in doc["rows"]
                    if r["verdict"] != "slower"), reverse=True)
    shown = [abs(_log(float(m.group(1)))) for m in
             re.finditer(r"\| ([0-9.]+)\u00d7 (?:worse|better) \|",
                         short.split("**Largest other changes")[1])]
    assert shown == pytest.approx(moves[:5], abs=0.01)
    # The whole table is folded, every row of it.
    assert folded.startswith(f"{len(doc['rows'])} rows</summary>")
    assert _table_rows(folded.split("</details>")[0]) == len(doc["rows"])
    assert len(short.splitlines()) < len(md.splitlines()) / 2


def test_markdown_without_regressions_says_so(tmp_path: Path) -> None:
    rows = make_rows([BASE_CONFIG], {"baseline": 1.0, "current": 1.0}, 8)
    path = write_run(tmp_path / "r", rows, {"baseline": "b", "current": "c"})
    _, _, _, md, _ = outputs(tmp_path, str(path))
    assert "No regression beyond the threshold." in md
    assert "**Regressions" not in md


# -- noise floor --------------------------------------------------------------------


def test_noise_floor_from_the_thresholds_file_is_on_page_and_in_json(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('threshold = "25%"\nmetrics = ["jobs_per_sec", "cpu_per_1k_jobs"]\n'
                    '[noise_floor]\nsource = "A/A, ci profile, test machine"\n'
                    'jobs_per_sec = "31%"\ncpu_per_1k_jobs = "7%"\n')
    _, out, doc, md, page = outputs(tmp_path, str(mixed_run(tmp_path / "ab")),
                                    "--thresholds", str(toml))
    floors = {f["metric"]: f for f in doc["noise_floor"]}
    assert floors["jobs_per_sec"]["calibrated"] == pytest.approx(0.31)
    assert floors["cpu_per_1k_jobs"]["calibrated"] == pytest.approx(0.07)
    assert floors["jobs_per_sec"]["calibration_source"] == "A/A, ci profile, test machine"
    assert floors["jobs_per_sec"]["measured"] is False  # not an A/A comparison
    noise = _between(page, 'id="noise-floor"', "</table>")
    assert "31%" in noise and "7%" in noise and "A/A, ci profile, test machine" in page
    assert '<td class="n num below">31%</td>' in noise  # the 25% threshold is below it
    assert "jobs_per_sec 31% (threshold 25%)" in out and "jobs_per_sec 31%" in md


def test_without_calibration_the_page_says_how_to_get_one(tmp_path: Path) -> None:
    _, _, doc, _, page = outputs(tmp_path, str(mixed_run(tmp_path / "ab")))
    assert doc["noise_floor"] and all(f["calibrated"] is None for f in doc["noise_floor"])
    assert "not calibrated" in page and "gigq-bench ab --baseline HEAD" in page


def test_an_aa_comparison_measures_its_noise_floor_on_the_page(tmp_path: Path) -> None:
    rows = make_rows([BASE_CONFIG, TWO], {"baseline": 1.0, "current": 1.0}, 10, noise=0.03,
                     drift=0.0)
    path = write_run(tmp_path / "aa", rows, {"baseline": "b", "current": "c"})
    _, out, doc, _, page = outputs(tmp_path, str(path), "--calibrate", "--threshold", "50%")
    jobs = next(f for f in doc["noise_floor"] if f["metric"] == "jobs_per_sec")
    assert jobs["measured"] is True and 0 < jobs["noise"] < 0.5
    shown = f"{jobs['noise'] * 100:.1f}%".replace(".0%", "%")
    assert shown in _between(page, 'id="noise-floor"', "</table>")
    # The calibration prints the lines a thresholds file needs to show it later.
    assert "[noise_floor]" in out and f'jobs_per_sec = "{shown}"' in out


def test_a_bad_noise_floor_entry_is_a_one_line_error(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('[noise_floor]\njobs_per_sec = "lots"\n')
    code, out, err = run(str(mixed_run(tmp_path / "ab")), "--thresholds", str(toml))
    assert code == 2
    assert err.strip().count("\n") == 0 and "[noise_floor] jobs_per_sec" in err
    assert "Traceback" not in err + out


# -- helpers ------------------------------------------------------------------------


def _between(text: str, start: str, end: str) -> str:
    head = text.index(start)
    return text[head:text.index(end, head + len(start))]


def _table_rows(markdown: str) -> int:
    return sum(1 for line in markdown.splitlines()
               if line.startswith("| ") and not line.startswith("| | configuration"))


def _log(x: float) -> float:
    import math

    return math.log(x)


def test_a_comparison_where_every_row_is_inconclusive_says_nothing_was_judged(
        tmp_path: Path) -> None:
    # Three trials a side cannot reach a 95% verdict: the gate passes (non-strict), but
    # no page may call that "no performance regression".
    base = write_run(tmp_path / "a", make_rows([BASE_CONFIG], {"current": 1.0}, 3, seed=1))
    current = write_run(tmp_path / "b", make_rows([BASE_CONFIG], {"current": 0.8}, 3, seed=2))
    code, out, doc, md, page = outputs(tmp_path, str(base), str(current))
    assert code == 0
    assert "nothing could be judged" in out.splitlines()[0]
    assert "\u26a0\ufe0f nothing could be judged: all" in md.splitlines()[0]
    assert "Nothing could be judged" in page and "No performance regression" not in page
    assert all(r["verdict"] == "inconclusive" for r in doc["rows"])
