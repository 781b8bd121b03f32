"""What every peer server does first: read ``--port`` and allow thousands
of open sockets (RLIMIT_NOFILE up to the hard limit)."""
from __future__ import annotations

import argparse
import resource


def port_from_arguments() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = int(parser.parse_args().port)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return port
