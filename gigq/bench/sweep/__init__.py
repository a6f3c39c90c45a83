"""A sweep: the space of settings (``space``), running a plan of trials (``plan``), one trial
(``trial``) and the process it drives (``trial_worker``, ``workloads``), where databases live
(``locations``), the ceilings a run is measured against (``ceiling``), the environment it
records (``metadata``) and the summary printed at the end (``summary``).

``trial_worker.py`` and ``workloads.py`` run under other GigQ versions, loaded by file path:
they import nothing from this package.
"""
