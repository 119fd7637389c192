"""Errors shared by the library and the CLI."""


class UserError(Exception):
    """Something the user can fix (missing input, unwritable or existing output, bad option).

    The CLI prints it as one line, without a traceback, and exits with status 2.
    """
