"""Flow test cases (``*.tests.yaml``) and their runner, behind ``agiflow test``.

``loader`` reads and checks the files, ``runner`` simulates each case's call
with in-memory services (``memory``) and ``expect`` compares the result with
what the case expects. Nothing here imports click or Twisted.
"""
