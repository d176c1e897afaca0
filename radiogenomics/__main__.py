"""``python -m radiogenomics`` runs the rg command line."""

import sys

from .cli import main

sys.exit(main())
