"""One exception hierarchy and the warning classes of radiogenomics.

Every error a user can cause derives from :class:`RGError`; the CLI prints its
message as one line and exits non-zero.  Messages name the file, field or
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
