"""``rg run PIPELINE.yaml``: named steps, each an ``rg`` stage with parameters, run in order.

A pipeline file::

    name: demo
    description: what it does
    vars:                      # ${name} substitutions (overridable with rg run --set name=value)
      cohort: ${home}/demo/cohort
    requires:                  # variables the steps using them need non-empty; when one is not,
      tcia_url: run `rg demo`  # the run stops before any step with this line (how to run it)
    steps:
      - name: features         # unique step name
        stage: features        # an rg command path, e.g. "radscore fit", "import nbia"
                               # (the registry in radiogenomics.pipeline.stages)
        args: []               # positional arguments
        params:                # options: key -> value (--key value; true -> --key; lists repeat;
                               # false, null or "" leave the option out)
          params: ${pipeline_dir}/demo_features.yaml
        env: {}                # settings for this step: RG_TCIA_URL, RG_GEO_URL, RG_CLINICAL_URL,
                               # RG_IDC_ENDPOINT, RG_IDC_INDEX,
                               # RG_TIMEOUT, RG_RETRIES, RG_WORKERS, RG_EXECUTOR, RG_DEEP_WEIGHTS
                               # (passed to the stage as arguments; the process environment
                               # is not changed)
        after: [import]        # upstream steps whose runs feed this one [default: all earlier steps]
        optional: false        # true: a failing / unavailable stage is logged and skipped
        when: ${external_list} # run only if this is non-empty (and not false / 0 / no) after
                               # substitution; otherwise the step is reported "off"

Built-in variables: ``pipeline_dir`` (folder of the file), ``home``, ``store``, ``data_dir``;
``${env:NAME}`` reads the environment.

Resume: each step's *input hash* covers its stage, resolved arguments, environment, the
checksums of files (and listings of folders) it names (except output options such as
``out``), and the run_ids of its upstream steps.  A step whose last run finished ``ok`` with the same hash is skipped; otherwise it
runs, and so does everything downstream of it (their upstream run_ids changed).
Every executed step is a row in ``runs`` (command ``rg run <pipeline>:<step>``) holding
the argv, the hash and the run_ids of the stage's own runs; ``core.pipeline_steps``
keeps the last hash and run per step.

How steps run: each stage is a library function in the registry
(:mod:`radiogenomics.pipeline.stages`) called with the step's arguments and options as
keyword arguments; it returns a :class:`~radiogenomics.result.StageResult` whose run_ids
are exactly the runs the step records.  The pipeline never goes through the command line.

Modules: :mod:`.spec` (file -> steps), :mod:`.stages` (registry), :mod:`.runner` (order,
hashing, resume, runs rows).
"""
from .runner import (OUTPUT_OPTIONS, PipelineResult, StageExecutor, StageUnavailable, StepContext, StepOutcome,
                     input_hash, registry_executor, run_pipeline, step_inputs)
from .spec import Pipeline, Step, load_pipeline

__all__ = ["OUTPUT_OPTIONS", "Pipeline", "PipelineResult", "StageExecutor", "StageUnavailable", "Step", "StepContext",
           "StepOutcome", "input_hash", "load_pipeline", "registry_executor", "run_pipeline", "step_inputs"]
