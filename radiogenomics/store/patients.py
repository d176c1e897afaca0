"""Which identifiers of an imported file are patients of the store.

A file from elsewhere (a collaborator's grouping, an earlier pyradiomics run) names patients
by the store's ``patient_id`` or by any identifier recorded in ``id_crosswalk`` (TCIA
PatientID, GEO title, clinical Case ID ...).  One resolver serves every importer, so an
id is known (or not) the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

__all__ = ["PatientResolution", "resolve_patient_ids"]


@dataclass
class PatientResolution:
    """``mapping`` source id -> patient_id; ``unknown`` and ``ambiguous`` (id -> candidates) ids."""

    mapping: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)

    def reason(self, source_id: str) -> str:
        """Why ``source_id`` was not resolved (for the ``failures`` table)."""
        if source_id in self.ambiguous:
            return (f"id {source_id!r} maps to several patients ({', '.join(self.ambiguous[source_id])}) in "
                    "id_crosswalk; use the store's patient_id")
        return (f"patient {source_id!r} is not in the store (neither a patient_id of `patients`/`clinical` nor an "
                "identifier in `id_crosswalk`); load the cohort first or fix the id")


def resolve_patient_ids(store, ids: Sequence[str]) -> PatientResolution:
    """Resolve file identifiers to store patients: a ``patient_id`` first, then ``id_crosswalk``.

    Parameters
    ----------
    store
        Open store (read-only is enough).
    ids
        Identifiers as given in the file (whitespace already stripped).
    """
    wanted = sorted({str(i) for i in ids})
    out = PatientResolution()
    if not wanted:
        return out
    frame = pd.DataFrame({"source_id": wanted})
    store.con.register("_rg_wanted_ids", frame)
    try:
        direct = {r[0] for r in store.con.execute(
            "SELECT w.source_id FROM _rg_wanted_ids w WHERE w.source_id IN "
            "(SELECT patient_id FROM core.patients UNION SELECT patient_id FROM core.clinical)").fetchall()}
        cross = store.con.execute(
            "SELECT DISTINCT c.source_id, c.patient_id FROM core.id_crosswalk c "
            "JOIN _rg_wanted_ids w USING (source_id) ORDER BY 1, 2").fetchall()
    finally:
        store.con.unregister("_rg_wanted_ids")
    candidates: dict[str, list[str]] = {}
    for source_id, patient_id in cross:
        candidates.setdefault(source_id, []).append(patient_id)
    for sid in wanted:
        if sid in direct:
            out.mapping[sid] = sid
        elif len(candidates.get(sid, [])) == 1:
            out.mapping[sid] = candidates[sid][0]
        elif sid in candidates:
            out.ambiguous[sid] = candidates[sid]
            out.unknown.append(sid)
        else:
            out.unknown.append(sid)
    return out
