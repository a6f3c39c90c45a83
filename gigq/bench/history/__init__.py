"""``gigq-bench history``: one page of a configuration's speed across many runs.

``runs`` finds and loads the runs (and their gate verdicts), ``series`` matches
configurations across them, ``page`` draws the page, ``cli`` is the command.
See docs/report.md, "History across runs".
"""
