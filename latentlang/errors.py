"""The one exception type users see.

Every problem a user can fix (a bad language code, a missing file, a word with no tokens) is raised
as :class:`LatentLangError` with a one-line message that names what was wrong and how to fix it.
The CLI prints such errors without a traceback; anything else is a bug and keeps its traceback.
"""


class LatentLangError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""
