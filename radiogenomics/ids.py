"""Patient identifiers: what is accepted, and the file names derived from them.

Ids come from outside (TCIA PatientID, clinical Case ID, GEO titles, ``--patient``)
and end up in folder and file names.  :func:`check_patient_id` refuses ids no
sensible study uses (empty, control characters, absurdly long) with a message that
says where the id came from; :func:`id_file_name` maps an id to a name that is
readable, bounded in length and injective (ids differing only in characters a file
system would not keep, e.g. ``P é1`` / ``P ü1``, still get different names).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from .exceptions import InputError

#: longest id accepted (TCIA ids are < 64 characters; this leaves room for any real scheme)
MAX_ID_LENGTH = 256

_SLUG_DROP = re.compile(r"[^A-Za-z0-9._-]+")
_SLUG_MAX = 40


def check_patient_id(patient_id: object, where: str = "") -> str:
    """Return ``patient_id`` as a string if it is usable, else raise.

    Parameters
    ----------
    patient_id
        The id as given.
    where
        Where it came from (file, row, option) for the message.

    Raises
    ------
    InputError
        Empty (or only blanks), containing control characters (tab, newline, NUL ...),
        or longer than :data:`MAX_ID_LENGTH` characters.
    """
    origin = f" ({where})" if where else ""
    text = "" if patient_id is None else str(patient_id)
    if not text.strip():
        raise InputError(f"empty patient id{origin}: every row/file needs a patient id")
    bad = [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    if bad:
        shown = ", ".join(sorted({f"U+{ord(c):04X}" for c in bad}))
        raise InputError(f"patient id {text[:60]!r}{origin} contains control characters ({shown}); "
                         "remove them from the source")
    if len(text) > MAX_ID_LENGTH:
        raise InputError(f"patient id {text[:40]!r}... {origin}is {len(text)} characters long; at most "
                         f"{MAX_ID_LENGTH} are accepted (is the right column used as patient id?)")
    return text


def id_file_name(text: str, max_slug: int = _SLUG_MAX) -> str:
    """A file-system-safe name for an id: readable ASCII slug plus a short hash of the exact id.

    ``"R01-001"`` -> ``"R01-001_3fa2b1c9d0"``; ``"P é1"`` and ``"P ü1"`` share the slug
    ``P_1`` but not the hash.  At most ``max_slug + 11`` characters.
    """
    folded = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_DROP.sub("_", folded).strip("._")[:max_slug] or "id"
    digest = hashlib.sha1(str(text).encode("utf-8")).hexdigest()[:10]
    return f"{slug}_{digest}"
