"""Test and demo helpers that are not part of the analysis.

Modules
-------
nbia_server  LocalNBIAServer, FaultPlan, write_geo_series: a local HTTP server answering like
             NBIA v4 and the GEO folder tree, with injectable faults (tests and ``rg demo``)
"""
