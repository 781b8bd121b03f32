"""The ``agiflow`` command line: thin click commands over the library."""
