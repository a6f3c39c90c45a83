"""The exceptions GigQ raises on purpose, each naming the problem and the fix."""


class GigQError(Exception):
    """Base class of every error GigQ raises deliberately."""


class JobDefinitionError(GigQError, ValueError):
    """A job that could never run: bad function reference, params or option values."""


class JobSubmissionError(GigQError, ValueError):
    """A job the queue refuses: duplicate id, unknown dependency, batch problem."""


class SettingsError(GigQError, ValueError):
    """An invalid storage or worker setting; the message lists the valid values."""


class DatabaseFileError(GigQError):
    """The database file cannot be used: missing directory, not SQLite, corrupt, read-only."""


class DatabaseCorruptError(DatabaseFileError):
    """The database file is damaged (a page or an index disagrees with the table);
    waiting does not help: ``gigq check`` says what is wrong."""


class DatabaseBusyError(GigQError):
    """The write lock could not be taken within the busy timeout."""


class DiskFullError(GigQError):
    """SQLite reported a full disk; the failed operation was rolled back."""
