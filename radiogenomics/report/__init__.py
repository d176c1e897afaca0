"""The study report: figures from store tables assembled into one self-contained HTML file."""

from .build import ReportInputs, ReportResult, build_report, cohort_flow, load_inputs, write_report

__all__ = ["ReportInputs", "ReportResult", "build_report", "cohort_flow", "load_inputs", "write_report"]
