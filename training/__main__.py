"""``python -m dtd_ik.training ...`` is the ``train`` command."""

import sys

from .commands.train import main

sys.exit(main())
