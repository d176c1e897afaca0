"""`rg import nbia` (Data Retriever folders) and `rg import manifest` (.tcia files)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pydicom
import pytest

from radiogenomics.connectors.manifest import import_manifest, parse_manifest
from radiogenomics.connectors.nbia_import import import_nbia, parse_size
from radiogenomics.exceptions import InputError, ParseError

COLLECTION = "SYNTH Radiogenomics"
COLUMNS = ["Series UID", "Collection", "3rd Party Analysis", "Data Description URI", "Subject ID", "Study UID",
           "Study Description", "Study Date", "Series Description", "Manufacturer", "Modality", "SOP Class Name",
           "SOP Class UID", "Number of Images", "File Size", "File Location", "Download Timestamp"]


def _nbia_folder(cohort, dest: Path) -> Path:
    """Lay the cohort out like the NBIA Data Retriever, with its metadata.csv."""
    rows = []
    for folder in sorted(p for p in cohort.root.glob("*/*") if p.is_dir()):
        files = sorted(folder.iterdir())
        ds = pydicom.dcmread(files[0], stop_before_pixels=True)
        rel = Path(COLLECTION) / str(ds.PatientID) / f"01-02-1994-NA-CHEST-{str(ds.StudyInstanceUID)[-5:]}" / \
            f"{ds.SeriesNumber}.000000-{folder.name}-{str(ds.SeriesInstanceUID)[-5:]}"
        shutil.copytree(folder, dest / rel)
        size = sum(f.stat().st_size for f in files)
        rows.append([ds.SeriesInstanceUID, COLLECTION, "NO", "https://doi.org/x", ds.PatientID, ds.StudyInstanceUID,
                     "CHEST", "01-02-1994", getattr(ds, "SeriesDescription", ""), ds.Manufacturer, ds.Modality,
                     "x", ds.SOPClassUID, len(files), f"{size / 1e3:.2f} KB", "./" + str(rel), "2026-01-01T00:00:00"])
    with open(dest / "metadata.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return dest


def test_parse_size():
    assert parse_size("3.91 MB") == 3_910_000 and parse_size("512 KB") == 512_000 and parse_size("12") == 12
    assert parse_size("lots") is None


def test_import_nbia_registers_verifies_and_reruns(cohort, store, settings, tmp_path):
    root = _nbia_folder(cohort, tmp_path / "dl")
    summary = import_nbia(settings, store, root, workers=2)
    assert summary.failed == [] and summary.fetched == len(cohort.image_counts)
    series = store.query("SELECT * FROM series")
    assert (series["status"] == "complete").all()
    assert all(Path(p).is_relative_to(root.resolve()) for p in series["path"])  # registered in place
    segs = series[series["modality"] == "SEG"].set_index("patient_id")["referenced_series_uid"].to_dict()
    assert segs == {p: cohort.ct[p] for p in cohort.seg}
    n_inst = store.query("SELECT count(*) AS n FROM instances")["n"][0]
    assert n_inst == sum(cohort.image_counts.values())
    again = import_nbia(settings, store, root / "metadata.csv")
    assert again.fetched == 0 and again.skipped == len(cohort.image_counts)
    assert store.query("SELECT count(*) AS n FROM instances")["n"][0] == n_inst


def test_import_nbia_reports_broken_series(cohort, store, settings, tmp_path):
    root = _nbia_folder(cohort, tmp_path / "dl")
    ct_dirs = sorted(root.rglob("*-ct-*"))
    victim_file = sorted(ct_dirs[0].iterdir())[1]
    victim_file.write_bytes(b"garbage")
    shutil.rmtree(ct_dirs[1])
    summary = import_nbia(settings, store, root)
    assert len(summary.failed) == 2
    reasons = " ".join(r for _, r in summary.failed)
    assert "not a readable DICOM" in reasons and "missing" in reasons
    assert store.query("SELECT count(*) AS n FROM series WHERE status='complete'")["n"][0] == len(cohort.image_counts) - 2
    assert store.query("SELECT count(*) AS n FROM failures WHERE stage='import_nbia'")["n"][0] == 2


def test_import_nbia_without_metadata_is_clear(store, settings, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no metadata.csv"):
        import_nbia(settings, store, tmp_path / "empty")


def test_import_manifest(cohort, store, settings, server, tmp_path):
    uids = sorted(cohort.image_counts)
    path = tmp_path / "cart.tcia"
    path.write_text("downloadServerUrl=https://example.invalid/servlet\nincludeAnnotation=true\n"
                    "manifestVersion=3.0\nListOfSeriesToDownload=\n" + "\n".join(uids[:3] + ["1.2.3.999"]) + "\n")
    summary = import_manifest(settings, store, path, workers=2)
    assert summary.fetched == 3 and summary.failed == [("1.2.3.999", "not found in NBIA (getSeriesMetadata lists no such series)")]
    got = set(store.query("SELECT series_uid FROM series WHERE status='complete'")["series_uid"])
    assert got == set(uids[:3])
    again = import_manifest(settings, store, path)
    assert again.fetched == 0 and again.skipped == 3


def test_manifest_parse_errors(tmp_path):
    path = tmp_path / "bad.tcia"
    path.write_text("manifestVersion=3.0\n1.2.3\n")
    with pytest.raises(ParseError, match="ListOfSeriesToDownload"):
        parse_manifest(path)
    path.write_text("ListOfSeriesToDownload=\n1.2.3\nnot-a-uid\n")
    with pytest.raises(ParseError, match="bad.tcia:3"):
        parse_manifest(path)


def test_import_nbia_layout_is_the_real_retriever_layout(cohort, store, settings, tmp_path):
    """The synthetic folder mirrors the real metadata.csv (same header, 'null' cells, MB sizes,
    ./<Collection>/<Subject>/<study>/<series> locations); a series short of files is refused."""
    from tests.conftest import shared_file

    real = shared_file("data", "tcia", "nbia_data_retriever_metadata.csv")
    with open(real, newline="") as fh:
        reader = csv.reader(fh)
        header, first = next(reader), next(reader)
    assert header == COLUMNS
    assert first[COLUMNS.index("File Location")].startswith("./") and \
        len(Path(first[COLUMNS.index("File Location")]).parts) == 4
    root = _nbia_folder(cohort, tmp_path / "dl")
    with open(root / "metadata.csv", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    for row in rows:  # the real file's conventions
        row[COLUMNS.index("3rd Party Analysis")] = "null"
        row[COLUMNS.index("File Size")] = "0.01 MB"
        assert len(Path(row[COLUMNS.index("File Location")]).parts) == 4
    short = next(r for r in rows if int(r[COLUMNS.index("Number of Images")]) > 1)
    victim_dir = root / short[COLUMNS.index("File Location")]
    sorted(victim_dir.iterdir())[0].unlink()
    with open(root / "metadata.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([header] + rows)
    summary = import_nbia(settings, store, root)
    assert [u for u, _ in summary.failed] == [short[0]] and "files but" in summary.failed[0][1]
    assert summary.fetched == len(rows) - 1
    assert store.query("SELECT count(*) AS n FROM instances WHERE series_uid = ?", [short[0]])["n"][0] == 0
    sizes = store.query("SELECT DISTINCT file_size FROM series WHERE status = 'complete'")["file_size"].tolist()
    assert all(s > 0 for s in sizes)
