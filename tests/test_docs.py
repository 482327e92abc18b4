"""Every Python block of README and the guides runs, in the order of its page.

A block preceded by `<!-- test: skip (reason) -->` is left out, with its reason
(network, a GPU, or an extra another test covers)."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"(<!-- test: skip \((?P<reason>[^)]*)\) -->\n)?```python\n(?P<code>.*?)```",
                   re.S)


def python_blocks(text):
    """`(code, skip reason or None)` of each Python block of a Markdown page."""
    return [(m.group("code"), m.group("reason")) for m in BLOCK.finditer(text)]


def test_blocks_are_found_and_skips_are_read():
    page = ("```python\nx = 1\n```\ntext\n<!-- test: skip (needs network) -->\n"
            "```python\nimport timm\n```\n```bash\nls\n```\n")
    assert python_blocks(page) == [("x = 1\n", None), ("import timm\n", "needs network")]


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES
                                  if any(r is None for _, r in python_blocks(p.read_text()))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page, tmp_path):
    blocks = python_blocks(page.read_text())
    code = "\n".join(code for code, reason in blocks if reason is None)
    # The page's own namespace, in a fresh process: a block may use an earlier one's names.
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
