"""``gigq-bench tune``: the search (``search``), its real trials (``trials``), what it prints
and writes (``output``) and its HTML page (``report``)."""
