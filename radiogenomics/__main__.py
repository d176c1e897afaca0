"""``python -m radiogenomics`` runs the rg command line."""

from .cli import run

run()
