"""Recipes: one Markdown file per refactoring (YAML front matter + prompt templates) -> messages.

A recipe file looks like::

    ---
    name: modernize
    description: one line
    scope: modernize     # required: what an answer may change (pipeline.judge.scope), or `any`
    model: {temperature: 0.2, top_p: 0.95, max_tokens: 8192, seed: 7}
    select: {kinds: [function, method], regex: ['%'], libcst_matchers: [has_percent_format]}
    allow: {annotations: true}
    codemods: [libcst.codemod.commands.convert_union_to_or.ConvertUnionToOrCommand, ruff:UP, ruff:SIM118]
    unsafe_fixes: false  # ruff's unsafe fixes too (default: safe fixes only)
    ---
    ## System
    ...system prompt...
    ## User
    ...fixed instructions...
    $context
    $chunk
    ## Repair            (optional; $error is the rejection sentence)

Templates use `string.Template` placeholders (code is full of braces). The system prompt and the
fixed part of the user message never depend on the chunk, so a provider's prompt cache can hit:
only `$target_python` may appear there, and the user template must end with `$chunk`, the fenced
block holding the code to rewrite.
"""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, cast

import yaml

from pipeline.config import DEFAULT_TARGET_PYTHON, temperature_error
from pipeline.errors import UsageError
from pipeline.judge.policy import Allowances
from pipeline.judge.scope import SCOPES
from pipeline.recipes.codemod_check import (
    derives_from_codemod,
    find_spec_unimported,
    is_trusted,
)
from pipeline.recipes.rendering import (
    CHUNK_PLACEHOLDERS,
    DEFAULT_REPAIR,
    RUN_PLACEHOLDERS,
    render_chunk,
    render_context,
    version_text,
)
from pipeline.recipes.selectors import KINDS, MATCHERS, Selectors

if TYPE_CHECKING:  # libcst: loaded by a run, never to list or show recipes
    from libcst.codemod import Codemod

    from pipeline.source.chunking import Chunk


class RecipeError(UsageError):
    """A recipe file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ModelParams:
    """Sampling parameters sent with every request of a recipe."""

    temperature: float = 0.2
    top_p: float | None = 0.95
    max_tokens: int = 8192  # reasoning tokens count against it: keep it generous
    seed: int | None = None

    def request_fields(self) -> dict[str, float | int | None]:
        """The parameters as the request (and the response cache's key) names them."""
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Recipe:
    """A refactoring: prompts, sampling parameters, selectors, allowances and offline codemods."""

    name: str
    description: str
    system: str
    user_template: str
    params: ModelParams = ModelParams()
    selectors: Selectors = field(default_factory=Selectors)
    allowances: Allowances = field(default_factory=Allowances)
    codemods: tuple[str, ...] = ()  # libcst codemods, dotted names
    ruff_rules: tuple[
        str, ...
    ] = ()  # ruff rule codes or families (`UP`, `SIM118`) whose fixes apply
    unsafe_fixes: bool = False  # ruff's unsafe fixes too, not only its safe ones
    source: str = "builtin"
    repair_template: str = DEFAULT_REPAIR

    @property
    def deterministic(self) -> bool:
        """Whether the recipe has rewrites of its own (libcst codemods or ruff rules): an offline run."""
        return bool(self.codemods or self.ruff_rules)

    def selects(self, chunk: Chunk) -> bool:
        """True when the chunk is a candidate for this recipe."""
        return self.selectors.selects(chunk)

    def render_messages(
        self, chunk: Chunk, *, target_python: tuple[int, int] = DEFAULT_TARGET_PYTHON
    ) -> list[dict[str, str]]:
        """System and user messages for one chunk: fixed text first, the chunk's code block last."""
        run = {"target_python": version_text(target_python)}
        values = {
            **run,
            "path": chunk.path,
            "kind": chunk.kind,
            "name": chunk.name,
            "start_line": str(chunk.start_line),
            "end_line": str(chunk.end_line),
            "context": render_context(chunk),
            "chunk": render_chunk(chunk),
        }
        return [
            {"role": "system", "content": Template(self.system).substitute(run)},
            {"role": "user", "content": Template(self.user_template).substitute(values)},
        ]

    def repair_message(self, error: str) -> dict[str, str]:
        """The user turn sent after a rejected answer, naming what was wrong."""
        return {"role": "user", "content": Template(self.repair_template).substitute(error=error)}


# --- loading ---

_TOP_KEYS = frozenset(
    {"name", "description", "scope", "model", "select", "allow", "codemods", "unsafe_fixes"}
)
_MODEL_KEYS = frozenset({"temperature", "top_p", "max_tokens", "seed"})
_SELECT_KEYS = frozenset({"kinds", "regex", "libcst_matchers"})
_ALLOW_KEYS = frozenset(
    {"annotations", "signatures", "new_definitions", "imports", "definitions_removed"}
)
RUFF_PREFIX = "ruff:"
_RUFF_RULE = re.compile(r"[A-Z]{1,4}[0-9]{0,4}")  # a rule code (SIM118) or a family (UP, SIM)
_SECTION = re.compile(r"^## (System|User|Repair)[ \t]*$", re.MULTILINE)


def resolve_codemod(dotted: str) -> type[Codemod]:
    """The codemod class a dotted name points at; ValueError saying why when it does not.

    A module outside codemill and libcst is imported only once its source shows the class is a codemod
    (the trust model: `pipeline.recipes.codemod_check`)."""
    from libcst.codemod import Codemod

    module_name, _, class_name = dotted.rpartition(".")
    if not module_name or not all(part.isidentifier() for part in dotted.split(".")):
        raise ValueError(f"codemod {dotted!r} is not a dotted module.Class name")
    if not is_trusted(module_name):
        refuse_unread_codemod(dotted, module_name, class_name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"codemod {dotted!r}: cannot import {module_name} ({exc})") from None
    obj = getattr(module, class_name, None)
    if not (isinstance(obj, type) and issubclass(obj, Codemod)):
        raise ValueError(f"codemod {dotted!r}: {module_name} has no Codemod class {class_name}")
    required = [
        p.name
        for p in list(inspect.signature(obj.__init__).parameters.values())[2:]
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if required:
        raise ValueError(
            f"codemod {dotted!r} needs arguments ({', '.join(required)}); name one without"
        )
    return obj


def refuse_unread_codemod(dotted: str, module_name: str, class_name: str) -> None:
    """ValueError unless the source of an untrusted module, read without running it, makes
    `class_name` a libcst codemod (`pipeline.recipes.codemod_check` says why)."""
    if find_spec_unimported(module_name) is None:
        raise ValueError(f"codemod {dotted!r}: cannot find module {module_name}")
    if not derives_from_codemod(module_name, class_name):
        raise ValueError(
            f"codemod {dotted!r}: the source of {module_name} defines no libcst codemod class "
            f"{class_name}, so it was not imported"
        )


def _mapping(value: object, key: str, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecipeError(f"{where}: `{key}` must be a mapping, got {type(value).__name__}")
    return cast(Mapping[str, Any], value)


def _unknown(keys: Mapping[str, Any], allowed: frozenset[str], key: str, where: str) -> None:
    extra = sorted(set(keys) - allowed)
    if extra:
        raise RecipeError(
            f"{where}: unknown key(s) in `{key}`: {', '.join(extra)} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _number(value: object, key: str, where: str, kind: type[int] | type[float]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecipeError(f"{where}: `model.{key}` must be a number, got {value!r}")
    if kind is int and not isinstance(value, int):
        raise RecipeError(f"{where}: `model.{key}` must be an integer, got {value!r}")
    return value


def _params(raw: Mapping[str, Any], where: str) -> ModelParams:
    _unknown(raw, _MODEL_KEYS, "model", where)
    default = ModelParams()
    temperature = _number(raw.get("temperature", default.temperature), "temperature", where, float)
    if why := temperature_error(temperature):
        raise RecipeError(f"{where}: `model.temperature` {why}")
    top_p = raw.get("top_p", default.top_p)
    if top_p is not None:
        top_p = _number(top_p, "top_p", where, float)
        if not 0.01 <= top_p <= 1:
            raise RecipeError(f"{where}: `model.top_p` must be in [0.01, 1], got {top_p}")
    max_tokens = int(_number(raw.get("max_tokens", default.max_tokens), "max_tokens", where, int))
    if max_tokens < 1:
        raise RecipeError(f"{where}: `model.max_tokens` must be >= 1, got {max_tokens}")
    seed = raw.get("seed", default.seed)
    if seed is not None:
        seed = int(_number(seed, "seed", where, int))
        if seed < 1:
            raise RecipeError(f"{where}: `model.seed` must be >= 1, got {seed}")
    return ModelParams(float(temperature), top_p, max_tokens, seed)


def _strings(value: object, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecipeError(f"{where}: `{key}` must be a list of strings, got {value!r}")
    return tuple(value)


def _selectors(raw: Mapping[str, Any], where: str) -> Selectors:
    _unknown(raw, _SELECT_KEYS, "select", where)
    kinds = _strings(raw.get("kinds"), "select.kinds", where) or tuple(sorted(KINDS))
    bad_kinds = sorted(set(kinds) - KINDS)
    if bad_kinds:
        raise RecipeError(
            f"{where}: unknown chunk kind(s) in `select.kinds`: {', '.join(bad_kinds)} "
            f"(known: {', '.join(sorted(KINDS))})"
        )
    patterns = []
    for pattern in _strings(raw.get("regex"), "select.regex", where):
        try:
            patterns.append(re.compile(pattern, re.MULTILINE))
        except re.error as exc:
            raise RecipeError(f"{where}: bad regex {pattern!r} in `select.regex`: {exc}") from None
    matchers = _strings(raw.get("libcst_matchers"), "select.libcst_matchers", where)
    bad = sorted(set(matchers) - set(MATCHERS))
    if bad:
        raise RecipeError(
            f"{where}: unknown libcst matcher(s): {', '.join(bad)} "
            f"(known: {', '.join(sorted(MATCHERS))})"
        )
    return Selectors(frozenset(kinds), tuple(patterns), matchers)


def _allowances(raw: Mapping[str, Any], scope: object, where: str) -> Allowances:
    """The `allow` mapping and the recipe's `scope` (what kind of change an answer may make)."""
    _unknown(raw, _ALLOW_KEYS, "allow", where)
    for key, value in raw.items():
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: `allow.{key}` must be true or false, got {value!r}")
    if scope is None:
        raise RecipeError(
            f"{where}: missing `scope` in the front matter: say what an answer may change, "
            f"one of {', '.join(sorted(SCOPES))} (`any`: no limit)"
        )
    if scope not in SCOPES:
        raise RecipeError(
            f"{where}: unknown `scope` {scope!r} (known: {', '.join(sorted(SCOPES))})"
        )
    return Allowances(**raw, scope=str(scope))


def _template(text: str, section: str, allowed: frozenset[str], where: str) -> str:
    template = Template(text)
    if not template.is_valid():
        raise RecipeError(
            f"{where}: `## {section}` has a bad `$` (write `$$` for a literal dollar sign)"
        )
    unknown = sorted(set(template.get_identifiers()) - allowed)
    if unknown:
        raise RecipeError(
            f"{where}: `## {section}` uses unknown placeholder(s) "
            f"{', '.join('$' + u for u in unknown)} "
            f"(allowed here: {', '.join('$' + a for a in sorted(allowed))})"
        )
    return text


def _sections(body: str, where: str) -> dict[str, str]:
    found = list(_SECTION.finditer(body))
    names = [f.group(1) for f in found]
    for required in ("System", "User"):
        if required not in names:
            raise RecipeError(f"{where}: missing `## {required}` section")
    if len(set(names)) != len(names):
        raise RecipeError(f"{where}: a `## System`/`## User`/`## Repair` section appears twice")
    sections: dict[str, str] = {}
    for index, match in enumerate(found):
        end = found[index + 1].start() if index + 1 < len(found) else len(body)
        sections[match.group(1)] = body[match.end() : end].strip("\n").rstrip() + "\n"
    return sections


def _rewrites(
    meta: Mapping[str, Any], where: str, resolve: bool
) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """The recipe's `codemods` entries: libcst codemods (resolved unless `resolve` is False), ruff
    rules (`ruff:` entries), and whether ruff's unsafe fixes are wanted too (`unsafe_fixes`)."""
    entries = _strings(meta.get("codemods"), "codemods", where)
    codemods = tuple(e for e in entries if not e.startswith(RUFF_PREFIX))
    unsafe = meta.get("unsafe_fixes", False)
    if not isinstance(unsafe, bool):
        raise RecipeError(f"{where}: `unsafe_fixes` must be true or false, got {unsafe!r}")
    for dotted in codemods if resolve else ():
        try:
            resolve_codemod(dotted)
        except ValueError as exc:
            raise RecipeError(f"{where}: unknown {exc}") from None
    return codemods, _ruff_rules(entries, where), unsafe


def _ruff_rules(entries: tuple[str, ...], where: str) -> tuple[str, ...]:
    """The ruff rules among a recipe's `codemods` entries (`ruff:UP`, `ruff:SIM118`), without the prefix."""
    rules = tuple(e.removeprefix(RUFF_PREFIX).strip() for e in entries if e.startswith(RUFF_PREFIX))
    for rule in rules:
        if not _RUFF_RULE.fullmatch(rule):
            raise RecipeError(
                f"{where}: `ruff:{rule}` in `codemods` is not a ruff rule code or family "
                f"(like ruff:UP or ruff:SIM118)"
            )
    return rules


def parse_recipe(text: str, source: str, *, resolve_codemods: bool = True) -> Recipe:
    """Build a recipe from the text of a recipe file; RecipeError names `source` and the problem.

    `resolve_codemods=False` leaves the codemods unimported (the engine resolves them when it runs).
    """
    where = source
    if not text.startswith("---\n"):
        raise RecipeError(f"{where}: no YAML front matter (the file must start with a `---` line)")
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise RecipeError(f"{where}: front matter is not closed by a `---` line")
    try:
        meta = yaml.safe_load(head)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{where}: bad YAML front matter: {exc}".replace("\n", " ")) from None
    meta = dict(_mapping(meta, "front matter", where))
    _unknown(meta, _TOP_KEYS, "front matter", where)
    for required in ("name", "description"):
        if not isinstance(meta.get(required), str) or not meta[required].strip():
            raise RecipeError(f"{where}: missing or empty `{required}` in the front matter")
    codemods, ruff_rules, unsafe = _rewrites(meta, where, resolve_codemods)
    sections = _sections(body, where)
    user = sections["User"].rstrip()
    if not user.endswith("$chunk"):
        raise RecipeError(
            f"{where}: the `## User` template must end with `$chunk` (the code block goes last)"
        )
    if user.count("$chunk") != 1:
        raise RecipeError(f"{where}: the `## User` template must contain `$chunk` exactly once")
    return Recipe(
        name=meta["name"].strip(),
        description=meta["description"].strip(),
        system=_template(sections["System"].rstrip(), "System", RUN_PLACEHOLDERS, where),
        user_template=_template(user, "User", RUN_PLACEHOLDERS | CHUNK_PLACEHOLDERS, where),
        params=_params(_mapping(meta.get("model"), "model", where), where),
        selectors=_selectors(_mapping(meta.get("select"), "select", where), where),
        allowances=_allowances(
            _mapping(meta.get("allow"), "allow", where), meta.get("scope"), where
        ),
        codemods=codemods,
        ruff_rules=ruff_rules,
        unsafe_fixes=unsafe,
        source=source,
        repair_template=_template(
            sections.get("Repair", DEFAULT_REPAIR).rstrip(), "Repair", frozenset({"error"}), where
        ),
    )


def builtin_recipes() -> list[Recipe]:
    """Every recipe shipped in the `prompts` package, sorted by name."""
    recipes = []
    for entry in importlib.resources.files("prompts").iterdir():
        if entry.name.endswith(".md") and entry.is_file():
            text = entry.read_text(encoding="utf-8")
            # the shipped codemods are proven by tests/recipes; importing them costs libcst
            recipe = parse_recipe(text, f"builtin:{entry.name}", resolve_codemods=False)
            recipes.append(recipe)
    return sorted(recipes, key=lambda r: r.name)


def load_recipe(name_or_path: str) -> Recipe:
    """A built-in recipe by name, or a recipe file by path (ending in .md or naming a file)."""
    path = Path(name_or_path)
    if name_or_path.endswith(".md") or path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RecipeError(f"{name_or_path}: cannot read recipe file ({exc})") from None
        return parse_recipe(text, str(path))
    recipes = {r.name: r for r in builtin_recipes()}
    if name_or_path not in recipes:
        raise RecipeError(
            f"{name_or_path}: no such recipe "
            f"(built in: {', '.join(sorted(recipes))}; or give a .md path)"
        )
    return recipes[name_or_path]
