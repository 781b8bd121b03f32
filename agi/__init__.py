"""agiflow: a YAML call-flow engine served to Asterisk over FastAGI."""

__version__ = "0.1.0"
