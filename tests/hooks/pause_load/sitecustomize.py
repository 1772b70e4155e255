"""Test hook, loaded by a ``finops`` subprocess through ``PYTHONPATH`` (tests/test_nightly.py).

With ``FINOPS_TEST_PAUSE_LOAD=<marker file>`` the first window load pauses just before its
COMMIT: it writes the marker (its pid) and sleeps, so the test can SIGKILL the run while the
load's delete and insert are done but not committed. Nothing of this lives in the package.
"""

import os

_marker = os.environ.get("FINOPS_TEST_PAUSE_LOAD")

if _marker:
    import time
    from contextlib import contextmanager
    from pathlib import Path

    import finops.warehouse.load as load

    _real = load.transaction

    @contextmanager
    def _paused(con):  # noqa: ANN001, ANN202
        class _PauseBeforeCommit:
            def execute(self, query, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                if query.strip().upper() == "COMMIT":
                    Path(_marker).write_text(str(os.getpid()), encoding="utf-8")
                    time.sleep(3600)
                return con.execute(query, *args, **kwargs)

        with _real(_PauseBeforeCommit()):
            yield

    load.transaction = _paused
