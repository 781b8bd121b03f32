"""What every peer server does first: read ``--port`` (and ``--database``,
where the peers that keep CDRs write them) and allow thousands of open
sockets (RLIMIT_NOFILE up to the hard limit)."""
from __future__ import annotations

import argparse
import resource


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", default="peer-cdr.db")
    options = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return options


def port_from_arguments() -> int:
    return int(arguments().port)
