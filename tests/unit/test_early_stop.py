"""A Ctrl-C or SIGTERM while ``agiflow serve`` starts is noted and taken
once the server runs (agi/early_stop.py), whatever the process inherited."""
from __future__ import annotations

import functools
import signal
import subprocess
import sys

from support.server_process import REPO

NOTES_A_SIGINT = """
import os, signal
from agi import early_stop
early_stop.catch()
os.kill(os.getpid(), signal.SIGINT)
print(early_stop.take())
"""


def test_a_sigint_is_noted_also_when_the_process_started_with_it_ignored() -> None:
    """A shell starts a background job with SIGINT ignored, and so did the
    CI that ran the server's tests: the Ctrl-C sent while the server
    started was lost, and the running server (which stops on SIGINT
    whatever it inherited) never stopped."""
    for inherited in (signal.SIG_DFL, signal.SIG_IGN):
        done = subprocess.run([sys.executable, "-c", NOTES_A_SIGINT], cwd=REPO, capture_output=True, text=True,
                              timeout=30, preexec_fn=functools.partial(signal.signal, signal.SIGINT, inherited))
        assert (done.returncode, done.stdout.strip()) == (0, str(int(signal.SIGINT))), (inherited, done.stderr)
