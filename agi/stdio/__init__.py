"""Plain AGI mode: ``AGI(agiflow-agi,<flow>)`` runs one call in one process,
talking to Asterisk over stdin/stdout, with the same session code as the
FastAGI server."""
