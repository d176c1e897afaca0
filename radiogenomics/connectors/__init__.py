"""Connectors: IDC, TCIA (NBIA v4), GEO and the TCIA clinical CSV into the store.

Modules
-------
http         HttpClient: timeouts, retries with backoff + jitter, Retry-After, streamed downloads
tcia         fetch_tcia, NBIAClient, FetchSummary (download -> verify -> atomic move -> register)
idc_index    select_series, plan (the IDC index of idc-index-data; no network)
idc          fetch_idc, PublicBucket (unsigned S3 from RG_IDC_ENDPOINT through the same engine)
manifest     parse_manifest, import_manifest (.tcia files)
nbia_import  parse_nbia_metadata, import_nbia (NBIA Data Retriever folders, no network)
series_io    verify_series_folder, referenced_series (SEG -> CT), write_series
geo          fetch_geo, geo_stub, parse_series_matrix, parse_expression_table, detect_scale
clinical     parse_clinical_csv, load_clinical (typed columns, derived OS/DFS)
collection   fetch_study (a data_catalog entry such as nsclc-radiogenomics)

See ``docs/connectors.md``.
"""
