"""`python -m se_tune`: the same as the `se-tune` command."""

import sys

from se_tune.cli import main

sys.exit(main())
