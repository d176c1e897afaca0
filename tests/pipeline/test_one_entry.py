"""One entry per stage: the `rg` command and the pipeline registry call the same library ``run_*``,
which takes the store first and returns a StageResult."""

from __future__ import annotations

import importlib
import inspect
import typing
from pathlib import Path

import pytest

from radiogenomics.cli import main
from radiogenomics.pipeline.stages import get_stage, run_stage, stage_names
from radiogenomics.result import StageResult

#: stage -> the library entry both callers must reach ("module:attribute" as they import it)
ENTRIES = {
    "sql": "radiogenomics.store.sql:open_for_sql",
    "store info": "radiogenomics.store.maintenance:run_store_info",
    "store features-to-parquet": "radiogenomics.store.maintenance:run_features_to_parquet",
    "store features-to-duckdb": "radiogenomics.store.maintenance:run_features_to_duckdb",
    "store features-compact": "radiogenomics.store.maintenance:run_features_compact",
    "store features-attach": "radiogenomics.store.maintenance:run_features_attach",
    "fetch tcia": "radiogenomics.connectors.tcia:run_fetch_tcia",
    "fetch idc": "radiogenomics.connectors.idc:run_fetch_idc",
    "fetch geo": "radiogenomics.connectors.geo:run_fetch_geo",
    "fetch clinical": "radiogenomics.connectors.collection:run_fetch_clinical",
    "fetch nsclc-radiogenomics": "radiogenomics.connectors.collection:run_fetch_study",
    "import manifest": "radiogenomics.connectors.manifest:run_import_manifest",
    "import nbia": "radiogenomics.connectors.nbia_import:run_import_nbia",
    "import features": "radiogenomics.imaging.feature_import:run_import_features",
    "import images": "radiogenomics.imaging.rois:run_import_images",
    "rois": "radiogenomics.imaging.rois:run_rois",
    "features": "radiogenomics.imaging.features:run_features",
    "stability": "radiogenomics.imaging.stability:run_stability",
    "deep-features": "radiogenomics.imaging.deep:run_deep_features",
    "harmonize": "radiogenomics.imaging.harmonize:run_harmonize",
    "radscore fit": "radiogenomics.models.workflow:run_radscore_fit",
    "radscore apply": "radiogenomics.models.workflow:run_radscore_apply",
    "radscore export": "radiogenomics.models.workflow:run_radscore_export",
    "groups": "radiogenomics.models.groupings:run_groups",
    "groups import": "radiogenomics.models.groupings:run_groups_import",
    "survival": "radiogenomics.models.workflow:run_survival",
    "classify": "radiogenomics.models.classify:run_classify",
    "de": "radiogenomics.omics:run_de",
    "gsea": "radiogenomics.omics:run_gsea",
    "ora": "radiogenomics.omics:run_ora",
    "immune": "radiogenomics.omics:run_immune",
    "map": "radiogenomics.associate.map_stage:run_map",
    "associate": "radiogenomics.associate.study:run_associate",
    "report": "radiogenomics.report:run_report",
}

#: the required arguments / options of each stage (anything that parses)
REQUIRED = {
    "sql": (["SELECT 1"], {}),
    "store features-attach": (["{tmp}/pq"], {}),
    "fetch tcia": ([], {"collection": "C"}),
    "fetch idc": ([], {"collection": "c"}),
    "fetch geo": (["GSE1"], {}),
    "import manifest": (["{file}"], {}),
    "import nbia": (["{tmp}"], {}),
    "import features": (["{file}"], {}),
    "import images": ([], {"patient": "P1", "image": "{file}", "mask": "{file}"}),
    "radscore apply": ([], {"model": "m"}),
    "radscore export": ([], {"model": "m"}),
    "groups": ([], {"model": "m"}),
    "groups import": (["{file}"], {"grouping": "g"}),
    "survival": ([], {"grouping": "g"}),
    "classify": ([], {"endpoint": "egfr"}),
    "de": ([], {"grouping": "g", "dataset": "d"}),
    "gsea": ([], {"grouping": "g", "dataset": "d"}),
    "ora": ([], {"grouping": "g", "dataset": "d"}),
    "immune": ([], {"dataset": "d"}),
    "harmonize": ([], {"batch": "manufacturer"}),
    "associate": ([], {"grouping": "g"}),
    "report": ([], {"grouping": "g"}),
}


class _Reached(Exception):
    pass


def _target(stage: str):
    module, name = ENTRIES[stage].split(":")
    return importlib.import_module(module), name


def test_every_registered_stage_has_one_entry():
    assert sorted(ENTRIES) == stage_names()


@pytest.mark.parametrize("stage", sorted(set(ENTRIES) - {"sql"}))
def test_entries_take_the_store_first_and_return_a_stage_result(stage):
    module, name = _target(stage)
    fn = getattr(module, name)
    params = list(inspect.signature(fn).parameters.values())
    assert params[0].name in ("store", "store_path"), f"{ENTRIES[stage]}: first parameter {params[0].name}"
    # everything but the store and a stage's own positional arguments is keyword-only
    positional = [p.name for p in params[1:] if p.kind is not p.KEYWORD_ONLY]
    assert len(positional) <= 2, f"{ENTRIES[stage]}: positional {positional}"
    assert "settings" not in positional
    assert typing.get_type_hints(fn)["return"] is StageResult, ENTRIES[stage]


@pytest.mark.parametrize("stage", sorted(ENTRIES))
def test_cli_and_registry_call_the_same_entry(stage, tmp_path, monkeypatch, capsys):
    module, name = _target(stage)
    calls: list[str] = []

    def spy(*args, **kwargs):
        calls.append(stage)
        raise _Reached(stage)

    monkeypatch.setattr(module, name, spy)
    if stage == "deep-features":  # both callers check for torch first (not installed here)
        monkeypatch.setattr(importlib.import_module("radiogenomics.imaging.deep"), "load_torch", lambda: None)
    afile = tmp_path / "input.txt"
    afile.write_text("patient_id,group\nP1,a\n")
    store = tmp_path / "rg.duckdb"
    args, params = REQUIRED.get(stage, ([], {}))
    fill = {"{tmp}": str(tmp_path), "{file}": str(afile)}

    def filled(value: str) -> str:
        for k, v in fill.items():
            value = value.replace(k, v)
        return value

    args = [filled(a) for a in args]
    params = {k: filled(v) for k, v in params.items()}
    with pytest.raises(_Reached):
        run_stage(stage, store, args, params)
    assert calls == [stage]

    spec = get_stage(stage)
    argv = ["--store", str(store), *stage.split(), *args]
    for key, value in params.items():
        argv += ["--" + (spec.options[key].flag or key).replace("_", "-"), value]
    main(argv)
    err = capsys.readouterr().err
    assert calls == [stage, stage], f"`rg {' '.join(argv[2:])}` did not reach {ENTRIES[stage]}:\n{err}"


def test_an_entry_records_its_warnings_whoever_calls_it(tmp_path):
    """A warning raised inside a run_* is in the StageResult it returns (the CLI calls it directly)."""
    import warnings

    from radiogenomics.exceptions import DataQualityWarning
    from radiogenomics.result import stage_entry

    @stage_entry
    def run_thing(store, *, n: int) -> StageResult:
        warnings.warn(f"only {n} patients", DataQualityWarning, stacklevel=2)
        return StageResult("thing", counts={"n": n})

    with pytest.warns(DataQualityWarning, match="only 3 patients"):  # still shown to the user
        result = run_thing(tmp_path / "rg.duckdb", n=3)
    assert result.warnings == ["DataQualityWarning: only 3 patients"]
    # every registered entry is such an entry
    for stage in sorted(set(ENTRIES) - {"sql"}):
        module, name = _target(stage)
        assert hasattr(getattr(module, name), "__wrapped__"), f"{ENTRIES[stage]} is not a @stage_entry"
