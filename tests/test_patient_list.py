"""The one patient-list format (radiogenomics.patient_list)."""

from __future__ import annotations

import pytest

from radiogenomics.exceptions import InputError
from radiogenomics.patient_list import parse_patient_ids, read_patient_list, training_patients


@pytest.mark.parametrize("text, expected", [
    ("P1\nP2\n\n# a comment\nP3\n", ["P1", "P2", "P3"]),
    ("patient_id\nP1\nP2\n", ["P1", "P2"]),
    ("ID\nP1\n", ["P1"]),
    ("site,patient_id,age\na,P1,60\nb,P2,70\n", ["P1", "P2"]),
    ("patient_id\tage\nP1\t60\nP2\t70\n", ["P1", "P2"]),
    ('"patient_id"\n"P1"\n', ["P1"]),
    ("P1\nP2\nP1\n", ["P1", "P2"]),
    ("\ufeffpatient_id\nP1\n", ["P1"]),
])
def test_formats(tmp_path, text, expected):
    path = tmp_path / "ids.txt"
    path.write_text(text, encoding="utf-8")
    assert read_patient_list(path) == expected
    assert parse_patient_ids(f"@{path}") == expected


@pytest.mark.parametrize("text, message", [
    ("", "names no patient"),
    ("# only a comment\n", "names no patient"),
    ("patient_id\n", "names no patient"),
    ("a,b\n1,2\n", "none is named patient_id"),
    ("x,patient_id\n1,\n", "line 2 has no patient_id"),
])
def test_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "ids.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_patient_list(path, what="training list")
    assert str(path) in str(info.value) and "training list" in str(info.value)


def test_missing_file_and_inline_lists(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_patient_list(tmp_path / "nope.txt")
    assert parse_patient_ids("a, b,,c,a") == ["a", "b", "c"]
    assert parse_patient_ids("") is None and parse_patient_ids(None) is None


def test_one_reader_in_the_package():
    """classify and the Rad-score fit use the same reader (one format everywhere)."""
    from radiogenomics.models import classify as clf_module  # noqa: F401
    import importlib

    clf = importlib.import_module("radiogenomics.models.classify")
    assert clf.read_patient_list is read_patient_list


def test_training_patients_list_or_file_not_both(tmp_path):
    """The one --train rule of classify and harmonize: a list or a file (named by the caller), never both."""
    f = tmp_path / "train.txt"
    f.write_text("P2\nP1\n")
    assert training_patients(["P9"], None) == ["P9"]
    assert training_patients(None, None) is None
    assert training_patients(None, f) == ["P2", "P1"]
    with pytest.raises(InputError, match=r"as a list or as a file \(--train\), not both"):
        training_patients(["P9"], f)
    with pytest.raises(InputError, match="training list .*nope.txt not found"):
        training_patients(None, tmp_path / "nope.txt", what="training list")


def test_stages_check_their_training_patients_before_reading_the_store(tmp_path):
    from radiogenomics.imaging.harmonize import run_harmonize
    from radiogenomics.models.classify import run_classify

    f = tmp_path / "train.txt"
    f.write_text("P1\n")
    missing = tmp_path / "no-store.duckdb"
    for run in (lambda: run_harmonize(missing, "manufacturer", train=["P1"], train_file=f),
                lambda: run_classify(missing, "n_stage", train=["P1"], train_file=f)):
        with pytest.raises(InputError, match="not both"):
            run()
    with pytest.raises(InputError, match="training-patient file .*nope.txt not found"):
        run_classify(missing, "n_stage", train_file=tmp_path / "nope.txt")
    with pytest.raises(InputError, match="training list .*nope.txt not found"):
        run_harmonize(missing, "manufacturer", train_file=tmp_path / "nope.txt")
    assert not missing.exists()
