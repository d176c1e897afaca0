"""IDC index selection (no network): the bundled idc-index-data index and a small one in its schema."""

from __future__ import annotations

import pytest

from radiogenomics.connectors import idc_index
from radiogenomics.exceptions import InputError, NotFoundError

try:
    import idc_index_data  # noqa: F401
    HAVE_INDEX = True
except ImportError:  # pragma: no cover - a declared dependency
    HAVE_INDEX = False

needs_index = pytest.mark.skipif(not HAVE_INDEX, reason="idc-index-data is not installed")


@needs_index
def test_real_index_counts_for_nsclc_radiogenomics():
    frame = idc_index.select_series(None, "nsclc_radiogenomics")
    counts = frame.groupby(["Modality"]).size().to_dict()
    assert counts == {"CT": 727, "PT": 480, "SEG": 515}
    seg = frame[frame.Modality == "SEG"]
    assert (seg.segmentation_source == "original").sum() == 144
    assert seg.analysis_result_id.eq("bamf_aimi_annotations").sum() == 371
    assert seg.segmentation_source.isin(["ai", "corrected"]).sum() == 371
    assert (seg.segmentation_source == "corrected").sum() == 34
    # original SEGs: R01 patients only, one each, CC BY 3.0 under the collection DOI
    orig = seg[seg.segmentation_source == "original"]
    assert orig.PatientID.str.startswith("R01-").all() and orig.PatientID.is_unique
    assert set(orig.license_short_name) == {"CC BY 3.0"}
    assert {d.lower() for d in orig.source_DOI} == {"10.7937/k9/tcia.2017.7hs46erv"}
    aimi = seg[seg.segmentation_source != "original"]
    assert set(aimi.license_short_name) == {"CC BY 4.0"} and set(aimi.source_DOI) == {"10.5281/zenodo.8345959"}
    assert aimi.PatientID.nunique() == 198 and aimi.PatientID.str.startswith("AMC-").any()
    assert frame.bucket.unique().tolist() == ["idc-open-data"]
    assert frame.prefix.str.match(r"^[0-9a-f-]{36}/$").all()


@needs_index
def test_real_index_filters_and_plan():
    ai = idc_index.select_series(None, "NSCLC Radiogenomics", modalities=["seg"], segmentation="ai")
    assert len(ai) == 337 and set(ai.reader) == {"ai", "ai_fdg"}
    corrected = idc_index.select_series(None, "nsclc_radiogenomics", modalities=["SEG"], segmentation="corrected")
    assert len(corrected) == 34 and all(r.startswith("corrected_") for r in corrected.reader)
    one = idc_index.select_series(None, "nsclc_radiogenomics", patients=["R01-001"])
    assert set(one.PatientID) == {"R01-001"}
    assert idc_index.collection_name(idc_index.bundled_index(), "nsclc_radiogenomics") == "NSCLC Radiogenomics"
    plan = idc_index.plan(None, "nsclc_radiogenomics", patients=["R01-001"], modalities=["SEG"], referenced_ct=True)
    text = plan.text()
    assert "CC BY 3.0" in text and "CC BY 4.0" in text and "10.5281/zenodo.8345959" in text
    assert plan.referenced_candidates is not None and len(plan.referenced_candidates) >= 1


@needs_index
def test_real_index_errors():
    with pytest.raises(NotFoundError, match="nsclc_radiogenomics"):
        idc_index.select_series(None, "nsclc radiogenomic")
    with pytest.raises(InputError, match="R01-999"):
        idc_index.select_series(None, "nsclc_radiogenomics", patients=["R01-999"])
    with pytest.raises(InputError, match="--segmentation"):
        idc_index.select_series(None, "nsclc_radiogenomics", segmentation="manual")
    with pytest.raises(InputError, match="--referenced-ct"):
        idc_index.plan(None, "nsclc_radiogenomics", modalities=["CT"], referenced_ct=True)


def test_segmentation_classes_and_readers():
    assert idc_index.segmentation_source(None, "3D Slicer segmentation result") == "original"
    assert idc_index.segmentation_source("bamf_aimi_annotations", "AIMI lung and nodule AI segmentation") == "ai"
    assert idc_index.segmentation_source("bamf_aimi_annotations",
                                         "AIMI lung and nodule radiologist 2 corrected segmentation") == "corrected"
    assert idc_index.segmentation_reader("ai", "AIMI lung and FDG tumor AI segmentation") == "ai_fdg"
    assert idc_index.segmentation_reader("corrected", "AIMI lung and FDG tumor non-expert 1 corrected segmentation") \
        == "corrected_fdg_non_expert_1"
    assert idc_index.segmentation_reader(None, "CT") is None
    assert idc_index.parse_s3_url("s3://idc-open-data/6dfdbf98-9b20/*") == ("idc-open-data", "6dfdbf98-9b20/")
    with pytest.raises(InputError, match="series_aws_url"):
        idc_index.parse_s3_url("gs://x/y")


@needs_index
def test_test_index_has_the_real_schema():
    """The small index the download tests serve is in the real idc_index.parquet schema (names and order)."""
    import duckdb

    from tests.connectors._idc import INDEX_SCHEMA

    real = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{idc_index.bundled_index()}')").df()
    assert list(real.column_name) == list(INDEX_SCHEMA)
    kinds = dict(zip(real.column_name, real.column_type))
    assert {c for c, t in INDEX_SCHEMA.items() if t == "int64"} == {c for c, t in kinds.items() if t == "BIGINT"}
    assert {c for c, t in INDEX_SCHEMA.items() if t == "float64"} == {c for c, t in kinds.items() if t == "DOUBLE"}
    assert set(idc_index.INDEX_COLUMNS) <= set(INDEX_SCHEMA)
