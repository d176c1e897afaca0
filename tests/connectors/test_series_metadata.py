"""Series metadata on the NBIA path: source, licence, DOI and the scanner facts from the headers."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from radiogenomics.connectors.series_io import doi_from, scanner_facts, verify_series_folder
from radiogenomics.connectors.tcia import fetch_tcia

COLLECTION = "SYNTH Radiogenomics"


def test_nbia_fetch_records_source_licence_doi_and_scanner_facts(settings, store, server, cohort):
    summary = fetch_tcia(settings, store, COLLECTION, modalities=["SEG"], referenced_ct=True)
    assert summary.failed == []
    rows = store.query("SELECT * FROM series ORDER BY series_uid").set_index("series_uid")
    assert (rows.source == "NBIA").all()
    assert rows.license.notna().all() and (rows.license == server.license_name).all()
    assert (rows.doi == "10.0000/SYNTH").all()
    for pid, uid in cohort.seg.items():
        assert rows.loc[uid, "segmentation_source"] == "original"
        ct = rows.loc[cohort.ct[pid]]
        # write_ct_series writes SliceThickness = the slice spacing (2 mm) and no kernel
        assert ct.slice_thickness == pytest.approx(2.0) and ct.convolution_kernel is None
        assert ct.segmentation_source is None


def test_scanner_facts_from_headers(cohort, tmp_path):
    src = sorted((cohort.root / "R01-001" / "ct").iterdir())
    folder = tmp_path / "ct"
    folder.mkdir()
    for path in src:
        ds = pydicom.dcmread(path)
        ds.ManufacturerModelName = "SOMATOM Definition AS"
        ds.ConvolutionKernel = ["I30f", "3"]
        ds.SliceThickness = "1.25"
        ds.save_as(folder / path.name)
    files = verify_series_folder(folder, None, len(src))
    assert (files.manufacturer_model, files.convolution_kernel, files.slice_thickness) == \
        ("SOMATOM Definition AS", "I30f\\3", 1.25)
    ds = pydicom.dcmread(folder / src[0].name)
    del ds.SliceThickness
    del ds.ConvolutionKernel
    assert scanner_facts(ds)[1:] == ("", None)
    seg = pydicom.dcmread(next(Path(cohort.root / "R01-001" / "seg").iterdir()))
    assert scanner_facts(seg)[2] == pytest.approx(2.0)   # SEG: shared PixelMeasuresSequence


def test_doi_from_urls():
    assert doi_from("https://doi.org/10.7937/K9/TCIA.2017.7hs46erv") == "10.7937/K9/TCIA.2017.7hs46erv"
    assert doi_from("doi:10.5281/zenodo.8345959") == "10.5281/zenodo.8345959"
    assert doi_from("https://www.cancerimagingarchive.net/") is None and doi_from(None) is None


def test_seg_naming_several_series_references_the_preferred_one(cohort, store, tmp_path):
    """An AIMI PET/CT SEG names its PT and its CT series: with the CT set as preferred it references the CT."""
    from pydicom.dataset import Dataset

    from radiogenomics.connectors.series_io import write_series

    src = next(Path(cohort.root / "R01-001" / "seg").iterdir())
    ds = pydicom.dcmread(src)
    pt_ref, ct_ref = Dataset(), Dataset()
    pt_ref.SeriesInstanceUID, ct_ref.SeriesInstanceUID = "1.2.3.999.1", cohort.ct["R01-001"]
    pt_ref.ReferencedInstanceSequence = ct_ref.ReferencedInstanceSequence = []
    ds.ReferencedSeriesSequence = [pt_ref, ct_ref]
    folder = tmp_path / "seg"
    folder.mkdir()
    ds.save_as(folder / "seg.dcm")
    files = verify_series_folder(folder, None, 1)
    assert files.referenced_series_uids == ["1.2.3.999.1", cohort.ct["R01-001"]]
    assert files.referenced_series_uid == "1.2.3.999.1"       # the header's first
    write_series(store, "r1", files, "R01-001", "C", dict(prefer_referenced=frozenset(cohort.ct.values()),
                                                           source="IDC"), source="idc")
    row = store.query("SELECT referenced_series_uid, source FROM series WHERE series_uid = ?", [files.series_uid])
    assert row.iloc[0].tolist() == [cohort.ct["R01-001"], "IDC"]
