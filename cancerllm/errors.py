"""The documented error types. Anything else escaping the toolkit is a bug.

Messages carry file names, line numbers, ids and positions, never note text: hospital
notes are protected health information and error messages end up in logs and tickets.
"""

from __future__ import annotations


class CancerLLMError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class InputError(CancerLLMError):
    """A whole input (file, folder, option) cannot be used: missing, unreadable, wrong format."""


class RecordError(CancerLLMError):
    """One record of an input is malformed; the run reports it and goes on with the rest."""

    def __init__(self, source: str, line: int | None, reason: str, record_id: str | None = None):
        self.source, self.line, self.reason, self.record_id = source, line, reason, record_id
        where = f"{source}:{line}" if line is not None else source
        rid = f" (id {record_id})" if record_id is not None else ""
        super().__init__(f"{where}{rid}: {reason}")


class ConfigError(CancerLLMError):
    """A recipe or option is invalid: unknown key, wrong type, impossible value."""


class OfflineError(CancerLLMError):
    """Something asked for the network (a hub model name, a download); the toolkit never does."""
