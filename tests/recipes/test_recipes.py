"""Recipes: built-ins load and render cache-friendly prompts, selectors pick real chunks,
bad recipe files fail with a clear message."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.judge.policy import Allowances
from pipeline.judge.scope import SCOPES
from pipeline.recipes.loading import (
    Recipe,
    RecipeError,
    builtin_recipes,
    load_recipe,
    parse_recipe,
    resolve_codemod,
)
from pipeline.recipes.matchers import CHECKS
from pipeline.recipes.rendering import CHUNK_PLACEHOLDERS
from pipeline.recipes.selectors import MATCHERS
from pipeline.source.chunking import Chunk, chunk_module

LEGACY = Path(__file__).resolve().parents[2] / "examples" / "legacy_app"
BUILTINS = {"modernize", "type-hints", "docstrings", "simplify", "unittest-to-pytest"}


def real_chunks(relpath: str) -> dict[str, Chunk]:
    """A legacy_app file's chunks by name: whole classes (big budget) and their methods (small one)."""
    text = (LEGACY / relpath).read_text(encoding="utf-8")
    small = {c.name: c for c in chunk_module(relpath, text, 50)}
    return small | {c.name: c for c in chunk_module(relpath, text, 100_000)}


def python_blocks(message: str) -> list[str]:
    """Bodies of the fenced ```python blocks of a message (any fence length), in order."""
    pattern = re.compile(r"^(`{3,})python\n(.*?)\n\1$", re.DOTALL | re.MULTILINE)
    return [match.group(2) for match in pattern.finditer(message)]


@pytest.fixture(scope="module")
def recipes() -> dict[str, Recipe]:
    return {recipe.name: recipe for recipe in builtin_recipes()}


def test_every_builtin_loads(recipes: dict[str, Recipe]) -> None:
    assert set(recipes) == BUILTINS
    for recipe in recipes.values():
        assert recipe.source.startswith("builtin:")
        assert recipe.description
        assert 0 < recipe.params.temperature <= 1
        assert recipe.params.max_tokens >= 8192  # reasoning tokens count against it
        assert load_recipe(recipe.name) == recipe
    assert recipes["type-hints"].allowances == Allowances(annotations=True, scope="annotations")
    assert recipes["simplify"].allowances == Allowances(scope="code")
    assert len(recipes["modernize"].codemods) == 8
    scopes = {name: recipe.allowances.scope for name, recipe in recipes.items()}
    assert scopes == {
        "docstrings": "docstrings",
        "modernize": "modernize",
        "simplify": "code",
        "type-hints": "annotations",
        "unittest-to-pytest": "assertions",
    }


def test_every_builtin_codemod_resolves(recipes: dict[str, Recipe]) -> None:
    """Built-ins load without importing their codemods (that costs libcst): they are proven here."""
    for recipe in recipes.values():
        for dotted in recipe.codemods:
            assert resolve_codemod(dotted).__name__ == dotted.rpartition(".")[2]


def test_a_recipe_declares_a_known_scope() -> None:
    head = "---\nname: x\ndescription: y\n{}---\n## System\ns\n## User\n$chunk\n"
    assert parse_recipe(head.format("scope: docstrings\n"), "r.md").allowances.scope == "docstrings"
    assert parse_recipe(head.format("scope: any\n"), "r.md").allowances.scope == "any"
    with pytest.raises(RecipeError, match="unknown `scope` 'everything'"):
        parse_recipe(head.format("scope: everything\n"), "r.md")


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_renders_chunk_last_and_fixed_part_first(
    recipes: dict[str, Recipe], name: str
) -> None:
    recipe = recipes[name]
    chunks = real_chunks("legacy_app/orders.py")
    first, second = chunks["Order.place"], chunks["OrderLine"]
    one = recipe.render_messages(first, target_python=(3, 10))
    two = recipe.render_messages(second, target_python=(3, 10))
    assert [m["role"] for m in one] == ["system", "user"]
    assert one[0] == two[0]  # the system prompt never depends on the chunk
    assert "$" not in one[0]["content"]
    assert ("3.10" in one[0]["content"]) == ("$target_python" in recipe.system)
    # the fixed instructions are a common prefix; the chunk is the last python block
    cut = min(
        recipe.user_template.index("$" + p)
        for p in CHUNK_PLACEHOLDERS
        if "$" + p in recipe.user_template
    )
    fixed = recipe.user_template[:cut].replace("$target_python", "3.10")
    assert len(fixed) > 200
    assert one[1]["content"].startswith(fixed) and two[1]["content"].startswith(fixed)
    assert python_blocks(one[1]["content"])[-1] + "\n" == first.text
    assert python_blocks(two[1]["content"])[-1] + "\n" == second.text
    assert first.text not in one[1]["content"][: len(fixed)]
    # the read-only context comes in its own blocks, before the chunk
    blocks = python_blocks(one[1]["content"])
    assert first.context.imports and first.context.class_header
    assert blocks[0] == first.context.imports.rstrip("\n")
    assert blocks[1] == first.context.class_header.rstrip("\n")
    assert "read-only" in one[1]["content"].split(blocks[0])[0]


def test_chunk_with_backticks_gets_a_longer_fence(recipes: dict[str, Recipe]) -> None:
    text = 'def doc():\n    return """\n```python\nx = 1\n```\n"""\n'
    chunk = Chunk("m.py", 0, len(text), 1, 6, "function", "doc", text)
    user = recipes["docstrings"].render_messages(chunk)[1]["content"]
    assert "````python\n" in user
    assert python_blocks(user)[-1] + "\n" == text
    assert "Read-only context: none." in user


def test_repair_message_names_the_error(recipes: dict[str, Recipe]) -> None:
    turn = recipes["modernize"].repair_message("syntax error at line 3")
    assert turn["role"] == "user"
    assert "syntax error at line 3" in turn["content"]
    assert "```python" in turn["content"]


# --- selectors on real chunks ---


def test_modernize_selects_legacy_idioms_and_skips_modern_code(recipes: dict[str, Recipe]) -> None:
    modernize = recipes["modernize"]
    orders = real_chunks("legacy_app/orders.py")
    assert modernize.selects(orders["OrderLine.describe"])  # "{}".format
    assert modernize.selects(orders["Order.add"])  # "%d" % (...)
    assert modernize.selects(orders["RushOrder.total"])  # super(RushOrder, self)
    assert modernize.selects(orders["Order"])  # class Order(object)
    assert not modernize.selects(orders["Order.subtotal"])
    assert not modernize.selects(orders["Order.tax"])
    pricing = real_chunks("legacy_app/pricing.py")
    assert not modernize.selects(pricing["money"])
    inventory = real_chunks("legacy_app/inventory.py")
    assert modernize.selects(inventory["Inventory.find"])  # Optional[str], List[Product]
    # a `%` that is arithmetic, not formatting, is not a reason to send a chunk
    text = "def parity(n: int) -> int:\n    return n % 2\n"
    assert not modernize.selects(Chunk("m.py", 0, 40, 1, 2, "function", "parity", text))


def test_type_hints_and_docstrings_selectors(recipes: dict[str, Recipe]) -> None:
    pricing = real_chunks("legacy_app/pricing.py")
    hints, docs = recipes["type-hints"], recipes["docstrings"]
    assert hints.selects(pricing["money"])  # `value` has no annotation
    assert not hints.selects(pricing["line_total"])
    models = real_chunks("legacy_app/models.py")
    assert hints.selects(models["Product.__repr__"])  # no return annotation
    assert not hints.selects(models["Product.label"])
    assert docs.selects(pricing["line_total"])
    assert not docs.selects(models["Product.__repr__"])  # private names are not documented
    assert docs.selects(models["Customer"])
    assert docs.selects(models["Product"])  # its label() has no docstring
    inventory = real_chunks("legacy_app/inventory.py")
    assert not docs.selects(inventory["Inventory.take_all"])  # documented already


def test_simplify_selects_nested_code_of_functions_only(recipes: dict[str, Recipe]) -> None:
    simplify = recipes["simplify"]
    inventory = real_chunks("legacy_app/inventory.py")
    assert simplify.selects(inventory["Inventory.find"])  # for / if / if
    assert not simplify.selects(inventory["Inventory.take"])
    assert not simplify.selects(inventory["Inventory"])  # classes are not a simplify kind


def test_unittest_selector_uses_the_class_header(recipes: dict[str, Recipe]) -> None:
    convert = recipes["unittest-to-pytest"]
    tests = real_chunks("tests/test_orders.py")
    assert convert.selects(tests["OrderTest"])
    assert convert.selects(tests["OrderTest.test_place_takes_stock"])
    app = real_chunks("legacy_app/orders.py")
    assert not convert.selects(app["Order"])
    assert not convert.selects(app["Order.place"])


def test_every_named_matcher_is_used_by_a_builtin(recipes: dict[str, Recipe]) -> None:
    used = {name for recipe in recipes.values() for name in recipe.selectors.matchers}
    assert used == set(MATCHERS)  # no matcher is dead code
    assert set(CHECKS) == set(MATCHERS)  # every regex prefilter has its libcst check, and no more


# --- user recipe files ---

GOOD = """---
name: rename-vars
description: Give single-letter locals descriptive names.
scope: any
model: {temperature: 0.5, top_p: 0.9, max_tokens: 4096, seed: 42}
select: {kinds: [function], regex: ['\\b[a-z]\\s*=']}
allow: {signatures: false}
---
## System
Rename locals for Python $target_python; costs $$0.
## User
Rename the single-letter locals.

$context

$chunk
## Repair
Rejected because: $error. Try again.
"""


def test_user_recipe_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "rename-vars.md"
    path.write_text(GOOD, encoding="utf-8")
    recipe = load_recipe(str(path))
    assert recipe.name == "rename-vars" and recipe.source == str(path)
    assert recipe.params.seed == 42 and recipe.params.top_p == 0.9
    hit = Chunk("m.py", 0, 10, 1, 2, "function", "f", "def f():\n    x = 1\n")
    miss = Chunk("m.py", 0, 10, 1, 2, "function", "g", "def g():\n    total = 1\n")
    assert recipe.selects(hit) and not recipe.selects(miss)
    assert not recipe.selects(Chunk("m.py", 0, 10, 1, 2, "class", "C", "class C:\n    x = 1\n"))
    system, user = recipe.render_messages(hit, target_python=(3, 12))
    assert system["content"] == "Rename locals for Python 3.12; costs $0."
    assert python_blocks(user["content"])[-1] + "\n" == hit.text
    assert recipe.repair_message("bad")["content"] == "Rejected because: bad. Try again."


def bad(text: str, tmp_path: Path) -> str:
    path = tmp_path / "bad.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        load_recipe(str(path))
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    return message


def test_a_recipe_without_a_scope_is_a_one_line_error_naming_the_accepted_values(
    tmp_path: Path,
) -> None:
    message = bad(GOOD.replace("scope: any\n", ""), tmp_path)
    assert "\n" not in message and "missing `scope`" in message
    assert ", ".join(sorted(SCOPES)) in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace("---\n", "", 1), "no YAML front matter"),
        (lambda t: t.replace("\n---\n## System", "\n## System"), "not closed"),
        (lambda t: t.replace("name: rename-vars", "name: [unclosed"), "bad YAML front matter"),
        (lambda t: t.replace("name: rename-vars\n", ""), "missing or empty `name`"),
        (lambda t: t.replace("allow:", "alow:"), "unknown key(s) in `front matter`: alow"),
        (lambda t: t.replace("seed: 42", "seed: 42, top_k: 3"), "unknown key(s) in `model`: top_k"),
        (lambda t: t.replace("temperature: 0.5", "temperature: 0"), "`model.temperature` must be"),
        (lambda t: t.replace("max_tokens: 4096", "max_tokens: lots"), "`model.max_tokens` must"),
        (lambda t: t.replace("[function]", "[lambda]"), "unknown chunk kind(s)"),
        (lambda t: t.replace("regex: ['\\b[a-z]\\s*=']", "regex: ['(']"), "bad regex '('"),
        (lambda t: t.replace("regex:", "libcst_matchers: [is_bad], regex:"), "matcher(s): is_bad"),
        (lambda t: t.replace("signatures: false", "signatures: maybe"), "`allow.signatures` must"),
        (lambda t: t.replace("## User", "## Usr"), "missing `## User` section"),
        (lambda t: t.replace("\n$chunk\n", "\n$chunk\nThanks.\n"), "must end with `$chunk`"),
        (lambda t: t.replace("$context", "$contxt"), "unknown placeholder(s) $contxt"),
        (lambda t: t.replace("Rename locals", "Rename $name"), "`## System` uses unknown"),
        (lambda t: t.replace("$$0", "$0"), "bad `$`"),
        (
            lambda t: t.replace("allow:", "codemods: [libcst.codemod.commands.nope.Nope]\nallow:"),
            "unknown codemod 'libcst.codemod.commands.nope.Nope': cannot import",
        ),
        (
            lambda t: t.replace(
                "allow:", "codemods: [libcst.codemod.commands.rename.RenameCommand]\nallow:"
            ),
            "needs arguments (old_name, new_name)",
        ),
        (
            lambda t: t.replace("allow:", "codemods: [pipeline.recipes.loading.Recipe]\nallow:"),
            "has no Codemod class Recipe",
        ),
    ],
)
def test_bad_recipe_files_say_what_is_wrong(
    tmp_path: Path, change: Callable[[str], str], expected: str
) -> None:
    assert expected in bad(change(GOOD), tmp_path)


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"nope\.md: cannot read recipe file"):
        load_recipe(str(tmp_path / "nope.md"))
    with pytest.raises(RecipeError, match=r"^modernise: no such recipe \(built in: docstrings"):
        load_recipe("modernise")
