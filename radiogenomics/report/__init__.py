"""The study report: figures from store tables assembled into one self-contained HTML file."""

from .build import ReportInputs, ReportResult, build_report, cohort_flow, load_inputs, write_report
from .stage import default_report_dir, run_report

__all__ = ["ReportInputs", "ReportResult", "build_report", "cohort_flow", "default_report_dir", "load_inputs",
           "run_report", "write_report"]
