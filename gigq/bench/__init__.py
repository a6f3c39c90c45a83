"""gigq-bench: measure and tune GigQ on this machine (extra ``gigq[bench]``).

Only this package imports click, pandas, matplotlib and jinja2; the core never
imports it.
"""
