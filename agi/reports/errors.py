"""The error every report raises when it cannot run."""


class ReportError(Exception):
    """The report cannot run (no database, an old schema, a time the CDR
    does not spell as it should...): the message says why."""
