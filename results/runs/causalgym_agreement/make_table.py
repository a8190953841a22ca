"""Print the CausalGym acceptance tables of the 7-agreement-task run (both selectivity rules).

    python results/runs/causalgym_agreement/make_table.py [RESULTS.json | RUN_FOLDER]

The same tables as the 29-task run's script (results/runs/causalgym_all_tasks/make_table.py),
which this runs with this folder as the default."""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.argv[1:] = sys.argv[1:] or [str(HERE)]
runpy.run_path(str(HERE.parent / "causalgym_all_tasks" / "make_table.py"), run_name="__main__")
