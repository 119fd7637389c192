"""Errors shared by the library and the CLI."""


class UserError(Exception):
    """Something the user can fix (missing input, unwritable or existing output, bad option).

    The CLI prints it as one line, without a traceback, and exits with status 2.
    """


class RunFailed(UserError):
    """A run that went to its end but may not be declared a success (too many of its input files
    could not be read): one line, exit status 1, and no `_SUCCESS`."""

    exit_code = 1
