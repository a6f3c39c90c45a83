"""The regression gate: two result sets compared (``compare``), two versions measured in one
interleaved run (``ab``), the versions built for it (``versions``), the verdict shown
(``report``) and the two commands (``cli``)."""
