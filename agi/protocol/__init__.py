"""The FastAGI wire protocol as pure functions: no sockets, no reactor."""
