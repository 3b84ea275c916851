"""The one exception type users see.

Every problem a user can fix (a bad language code, a missing file, a word with no tokens) is raised
as :class:`LatentLangError` with a one-line message that names what was wrong and how to fix it.
The CLI prints such errors without a traceback, and so do Jupyter and IPython (through the
exception's ``_render_traceback_``); anything else is a bug and keeps its traceback.
"""


class LatentLangError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""

    def _render_traceback_(self) -> list[str]:
        """How IPython and Jupyter show this error: one line, not a traceback of internals."""
        return [f"\033[31mLatentLangError\033[0m: {self}"]


def first_line(err: Exception) -> str:
    """An exception as one line (its type and the first line of its message), for wrapping a
    library's error in a :class:`LatentLangError`."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
