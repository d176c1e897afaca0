"""Synthetic cohorts in the real source formats (DICOM CT + SEG, GEO files, TCIA clinical CSV)."""
