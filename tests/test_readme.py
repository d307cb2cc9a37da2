"""The README's API tour runs as written, and its test command is what CI runs."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_api_tour_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README lost its Python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "python -m pytest -q"
    assert command in readme and command in ci
