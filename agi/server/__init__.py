"""Everything Twisted: the FastAGI server (protocol, factory, the service
tree of ``agiflow serve``), the webhook senders, and the reactor driver of
the plain AGI mode. No other package imports Twisted."""
