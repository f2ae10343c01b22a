"""``python -m dtd_ik.training ...`` is the ``train`` command."""
import sys

from .cli import main

sys.exit(main())
