"""``python -m highlights`` runs the command line."""

import sys

from highlights.cli import main

sys.exit(main())
