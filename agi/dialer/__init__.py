"""Placing calls from agiflow's own data: callback requests written as
Asterisk call files for ``agiflow callbacks dial``."""
