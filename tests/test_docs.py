"""Every ```python block of README.md and docs/*.md runs.

A file's blocks run in order in one fresh namespace, in a temporary working
directory, as a reader would paste them.  Warnings are errors, as everywhere
in the suite, except ``ConvergenceWarning``: an example keeps its budget of
iterations small so that it runs in seconds, and says so by warning.  A block
that needs data the repository does not ship is marked on the line before it
with ``<!-- skip-test: why -->`` and is skipped with that reason.
"""

import re
import warnings
from pathlib import Path

import pytest
from sklearn.exceptions import ConvergenceWarning

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(
    r"(?:<!--\s*skip-test:\s*(?P<reason>.*?)\s*-->\s*\n)?^```python\n(?P<code>.*?)^```",
    re.MULTILINE | re.DOTALL,
)


def blocks(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, code, skip reason or None) of each python block of ``path``."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        found.append((line, match["code"], match["reason"]))
    return found


CASES = [
    pytest.param(path, index, id=f"{path.relative_to(ROOT)}:{line}")
    for path in DOCUMENTS
    for index, (line, _, _) in enumerate(blocks(path))
]

# Per document: its namespace, working directory and the blocks run so far.
_RUNS: dict[Path, tuple[dict, Path, list[int]]] = {}


def test_the_extractor_finds_blocks_and_skip_reasons(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\na = 1\n```\n\n<!-- skip-test: needs MNIST -->\n"
        "```python\nb = 2\n```\n```bash\nls\n```\n"
    )
    assert blocks(page) == [(3, "a = 1\n", None), (8, "b = 2\n", "needs MNIST")]
    assert any("stacked.md" in str(case.id) for case in CASES)


@pytest.mark.parametrize(("path", "index"), CASES)
def test_python_block_runs(path, index, tmp_path_factory, monkeypatch):
    found = blocks(path)
    namespace, folder, done = _RUNS.setdefault(
        path, ({"__name__": "__doc__"}, tmp_path_factory.mktemp(path.stem), [])
    )
    monkeypatch.chdir(folder)
    # Earlier blocks first, when this one is run alone (-k) or out of order.
    for earlier in range(index + 1):
        if earlier in done:
            continue
        line, code, reason = found[earlier]
        done.append(earlier)
        if reason is not None:
            if earlier == index:
                pytest.skip(reason)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
