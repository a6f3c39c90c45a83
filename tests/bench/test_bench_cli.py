"""The gigq-bench command line: help texts, profiles, dry runs and bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from gigq.bench.cli import cli, main


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_texts_explain_themselves():
    top = run("--help")
    assert top.exit_code == 0 and "sweep" in top.output and "profiles" in top.output
    sweep = run("sweep", "--help")
    for word in ("--profile", "--set", "--base", "--config", "--repeat", "--seed", "--out",
                 "--dry-run", "--no-report", "--location", "--job-size", "Exit status",
                 "polling_interval:", "location:"):
        assert word in sweep.output, word


@pytest.mark.parametrize("command", sorted(set(cli.commands) - {"profiles"}))
def test_every_command_lists_its_exit_codes_from_the_one_table(command):
    from gigq.bench.exit_codes import ExitCode

    text = run(command, "--help").output
    assert "Exit status: " in text or "Exit codes:" in text, command
    # The wording comes from documents_exits / exit_codes_block, not a literal.
    assert f"{int(ExitCode.OK)} " in text and f"{int(ExitCode.BAD_INPUT)} " in text


def test_profiles_lists_the_builtin_ones():
    out = run("profiles").output
    for name in ("quick (default)", "standard", "full"):
        assert name in out
    assert "trials" in out
    toml = run("profiles", "--show", "quick").output
    assert "[base]" in toml and "[dimensions]" in toml


def test_dry_run_prints_plan_skips_and_estimate(tmp_path):
    out = tmp_path / "out"
    result = run("sweep", "--dry-run", "--out", str(out), "--set", "location=disk,memory")
    assert result.exit_code == 0, result.output
    assert "Planned configurations" in result.output
    assert "Skipped:" in result.output and "in-memory database" in result.output
    assert "Estimated duration" in result.output
    assert not out.exists(), "a dry run writes nothing"


@pytest.mark.parametrize("args, fragment", [
    (["--set", "wokers=1,2"], "unknown dimension 'wokers'"),
    (["--set", "journal_mode=fast"], "invalid value 'fast' for journal_mode"),
    (["--set", "workers"], "expected DIMENSION=VALUE"),
    (["--base", "workers=1,2"], "invalid value '1,2' for workers"),
    (["--repeat", "0"], "--repeat 0"),
    # TMP: this test's own directory, so no path on the machine can make it exist.
    (["--set", "location=disk,ghost=TMP/missing/dir"], "does not exist"),
    (["--job-size", "io_ms=slow"], "job size io_ms must be a number"),
])
def test_bad_input_fails_before_any_trial(tmp_path, args, fragment):
    out = tmp_path / "out"
    args = [a.replace("TMP", str(tmp_path)) for a in args]
    code = main(["sweep", "--out", str(out), *args])
    assert code == 2
    assert not (out / "results.json").exists()


def test_bad_input_message(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[dimensions\nworkers = 1")
    assert main(["sweep", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.toml is not valid TOML" in err


@pytest.mark.parametrize("args, fragment", [
    # Both passed --dry-run and then crashed the first real trial.
    (["--set", "cache_size=99999999999999"], "cache_size"),
    (["--base", "cache_size=-99999999999999"], "cache_size"),
])
def test_out_of_range_values_fail_the_dry_run_in_one_line(tmp_path, capsys, args, fragment):
    code = main(["sweep", "--dry-run", "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err and "2,147,483,647" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, option", [
    # click's FloatRange let NaN through: it fails no comparison.
    (["tune", "--arrival-rate", "nan"], "--arrival-rate"),
    (["tune", "--arrival-rate", "inf"], "--arrival-rate"),
    (["tune", "--arrival-rate", "0"], "--arrival-rate"),
    (["sweep", "--trial-timeout", "nan"], "--trial-timeout"),
    (["sweep", "--trial-timeout", "0.5"], "--trial-timeout"),
])
def test_float_options_refuse_nan_and_out_of_range(tmp_path, capsys, args, option):
    code = main([*args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and option in errors[0] and "a finite number" in errors[0]
    assert "Traceback" not in err and not (tmp_path / "o").exists()


HEAVY = ("pandas", "numpy", "matplotlib", "jinja2")


@pytest.mark.parametrize("args", [["--help"], ["sweep", "--help"], ["tune", "--help"],
                                  ["compare", "--help"], ["ab", "--help"],
                                  ["report", "--help"], ["tune-report", "--help"]])
def test_help_loads_no_data_or_plotting_library(args):
    # What the entry point does, in a fresh interpreter: the help must not wait for
    # pandas, numpy or matplotlib (the commands import them when they run).
    code = ("import sys\n"
            "from gigq.bench.entry import main\n"
            f"sys.argv = ['gigq-bench', *{args!r}]\n"
            "code = main()\n"
            f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules], code)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: gigq-bench" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "LOADED [] 0"


def test_entry_point_names_the_missing_extra_without_importing_it(tmp_path):
    # A package that shadows pandas with a broken one: find_spec sees that it exists
    # and does not run it (importing it would raise).
    (tmp_path / "pandas").mkdir()
    (tmp_path / "pandas" / "__init__.py").write_text("raise ImportError('not for import')\n")
    code = ("import sys\n"
            "from gigq.bench.entry import main\n"
            "sys.argv = ['gigq-bench', '--help']\n"
            "print('CODE', main(), 'pandas' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "CODE 0 False"
