"""Errors that reach the user as one clear line (CLI: non-zero exit; app: a notification)."""


class ProfilerError(Exception):
    """A problem the user can act on; its message is the one line they see."""


class StoreError(ProfilerError):
    """The session store can't be opened or written (corrupt, foreign, unwritable)."""


class BackendError(ProfilerError):
    """The model can't be loaded or run as asked (missing folder, offline hub id, bad quant)."""


class InputError(ProfilerError):
    """A bad argument or prompt (empty prompt, --max-new-tokens 0, prompt longer than context)."""


class CsvFormatError(ProfilerError):
    """A CSV that can't be imported; the message names the line."""
