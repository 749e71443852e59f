"""``python -m candels_gui.cli``: the same as the ``candels-gui`` command."""

import sys

from . import main

sys.exit(main())
