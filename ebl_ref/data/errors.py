"""The one exception type raised for every user-facing data problem."""


class DataError(Exception):
    """A dataset is missing, corrupt, malformed or unsafe.

    The message always names the problem (which file, what was expected, what was found) and
    the fix (where to place files, what to delete or install).
    """
