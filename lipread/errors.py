"""Errors that mean the user asked for something that cannot be done: the CLI prints them as one
line and exits 2, never as a traceback."""


class UserError(Exception):
    """Something the user asked for that cannot be done here (a missing GPU, an unwritable folder)."""
