"""Repository invariants that keep CI honest."""

import re
from collections import Counter

from testutil import REPO


def test_test_file_basenames_are_unique():
    # test folders have no __init__.py, so two test_x.py files in different folders collide at collection
    names = Counter(p.name for p in (REPO / "tests").rglob("test_*.py") if "example_plugin" not in p.parts)
    assert [n for n, c in names.items() if c > 1] == []


def test_ci_runs_the_readme_quickstart_test_command():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick, flags=re.S)
    assert len(commands) == 2 and all("\n" not in c for c in commands)  # exactly two one-line commands
    assert commands[0].endswith("harness run") and "pytest" in commands[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert "quickstart-tests" in ci and "quickstart-tests" in readme.split(commands[1])[0].rsplit("```bash", 1)[0][-200:]


def test_no_bare_conftest_imports():
    # several folders have a conftest.py; `from conftest import x` gets whichever was imported first
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("*.py")
                 if re.search(r"^\s*from conftest import|^\s*import conftest", p.read_text(), flags=re.M)]
    assert offenders == []
