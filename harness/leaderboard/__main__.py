"""``python -m harness.leaderboard RESULTS_DIR --out DIR`` (same as ``harness leaderboard``)."""

import sys

from harness.leaderboard.command import main

sys.exit(main())
