"""One exception hierarchy and the warning classes of radiogenomics.

Every error a user can cause derives from :class:`RGError`; the CLI prints its
message as one line and exits non-zero with the class's ``exit_code``:

====  ==========================================================================
code  meaning
====  ==========================================================================
1     any other radiogenomics error
2     ConfigError: a setting, option or parameter file is invalid
3     InputError / ParseError: user-supplied data unusable as given
4     StoreError: the store cannot be opened, migrated or written
5     ConnectorError: a remote service failed (incl. NotFoundError: remote 404)
6     ImagingError
7     ModelError
8     OmicsError
9     PipelineError
10    OptionalDependencyError: an optional extra is not installed
11    NotInStoreError: a row the command needs is not in the local store
75    StoreBusyError: another process holds the write lock (retry later)
====  ==========================================================================
  Messages name the file, field or
patient at fault and say how to fix it.
"""

from __future__ import annotations


class RGError(Exception):
    """Base class of every error radiogenomics raises on purpose."""

    #: process exit code used by the CLI for this class of error
    exit_code: int = 1


class ConfigError(RGError):
    """A setting (environment variable, option, parameter file) is invalid."""

    exit_code = 2


class InputError(RGError):
    """User-supplied data (a file, a column, a value) is unusable as given."""

    exit_code = 3


class ParseError(InputError):
    """A file could not be parsed; the message names the file and the field."""


class StoreError(RGError):
    """The DuckDB store cannot be opened, migrated or written."""

    exit_code = 4


class StoreBusyError(StoreError):
    """Another process holds the store's write lock."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class ReadOnlyError(StoreError):
    """A write was attempted on a store opened read-only."""


class SchemaError(StoreError):
    """The store's schema is newer than this package or a migration failed."""


class OutdatedSchemaError(SchemaError):
    """A store opened read-only is at an older schema version and needs a migration first."""


class NotInStoreError(StoreError, LookupError):
    """A row the command needs is not in the local store (a grouping, a dataset, a model ...).

    Distinct from :class:`NotFoundError` (a *remote* resource does not exist, exit 5):
    nothing was downloaded or contacted; an earlier stage has to be run first, and the
    message names the command.
    """

    exit_code = 11


class WriteError(RGError):
    """A file could not be written (disk full, folder not writable, empty or unreadable result)."""

    exit_code = 13


class ConnectorError(RGError):
    """A remote service failed or answered something unusable."""

    exit_code = 5


class DownloadError(ConnectorError):
    """A download failed after all retries."""


class ChecksumError(DownloadError):
    """A downloaded file does not match its expected checksum or size."""


class NotFoundError(ConnectorError):
    """The remote resource (collection, series, GSE, file) does not exist."""


class ImagingError(RGError):
    """A CT series, mask or ROI cannot be turned into a volume or features."""

    exit_code = 6


class ModelError(RGError):
    """A statistical model cannot be fitted or applied."""

    exit_code = 7


class OmicsError(RGError):
    """An expression analysis cannot run on the given data."""

    exit_code = 8


class PipelineError(RGError):
    """A pipeline file is invalid or one of its steps failed."""

    exit_code = 9


class OptionalDependencyError(RGError):
    """A feature needs an optional extra that is not installed."""

    exit_code = 10


class PartialFailure(RGError):
    """A per-patient stage finished but some patients (items) failed; they are recorded
    in ``failures`` and the rest was stored.  Exit code 12 (fetch/import keep 5)."""

    exit_code = 12


# --------------------------------------------------------------------------- warnings


class RGWarning(UserWarning):
    """Base class of radiogenomics warnings."""


class StatisticalWarning(RGWarning):
    """A statistical result is unreliable (few events, separation, ...)."""


class FewEventsWarning(StatisticalWarning):
    """Too few events (or none in a group) for a stable estimate."""


class ConvergenceWarning(StatisticalWarning):
    """An iterative fit did not converge."""


class AllZeroCoefficientsWarning(StatisticalWarning):
    """A penalised model selected no feature."""


class DataQualityWarning(RGWarning):
    """Input data were usable but something was dropped or repaired."""
