"""Test hook, loaded by a subprocess and its spawned workers through ``PYTHONPATH``.

With ``FINOPS_TEST_PAUSE_SCAN=<directory>`` every OTLP file scan writes ``<directory>/<pid>``
and sleeps, so tests/test_otlp_file.py can SIGKILL the pull while its workers are busy.
Nothing of this lives in the package.
"""

import os

_marker_dir = os.environ.get("FINOPS_TEST_PAUSE_SCAN")

if _marker_dir:
    import time
    from pathlib import Path

    import finops.sources.otlp_file as otlp_file

    def _paused(path, plan, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        Path(_marker_dir, str(os.getpid())).write_text(path, encoding="utf-8")
        time.sleep(3600)

    otlp_file._scan = _paused
