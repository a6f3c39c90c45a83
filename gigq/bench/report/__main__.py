"""``python -m gigq.bench.report DIR [--out FILE] [--open]``: the report command alone."""

from .cli import report_command

if __name__ == "__main__":
    report_command(prog_name="python -m gigq.bench.report")
