"""Small inputs several test files share: a user recipe that may change anything, and a package whose
tests a bad answer can break (the gate-turn tests)."""

from __future__ import annotations


def tidy_recipe(kinds: str = "function") -> str:
    """A user recipe file's text: `scope: any`, selecting chunks of the given kinds (comma-separated)."""
    return f"""---
name: tidy
description: Tidy everything.
scope: any
select:
  kinds: [{kinds}]
---
## System
You tidy Python code for Python $target_python.

## User
Tidy this chunk of $path.

$context

$chunk
"""


SHAPES = {
    "pkg/__init__.py": "",
    "pkg/shapes.py": "def area(w, h):\n    return w * h\n\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n",
    "tests/test_shapes.py": (
        "from pkg.shapes import area, perimeter\n\n\n"
        "def test_area():\n    assert area(2, 3) == 6\n\n\n"
        "def test_perimeter():\n    assert perimeter(2, 3) == 10\n"
    ),
}
