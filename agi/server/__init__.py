"""The FastAGI server on Twisted: framing, limits, signals. The only package
that touches the reactor."""
