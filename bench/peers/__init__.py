"""The reference call written by hand for other FastAGI servers (see bench/compare.py)."""
