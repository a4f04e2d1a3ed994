"""`python -m brisa.testing.chaos`: one chaos run, configured by CHAOS_* variables."""

import os
import sys

from brisa.testing.chaos.run import main

sys.exit(main(os.environ))
