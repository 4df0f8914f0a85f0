"""Every default once: the settings objects derived from a run's config agree with it, and one
temperature rule (the provider's) holds for recipes and requests alike."""

from __future__ import annotations

import ast
import asyncio
import inspect
from pathlib import Path

import pytest

from pipeline.config import RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.model_engine import LLMEngine
from pipeline.gates.combined import GateSettings
from pipeline.judge.policy import Policy
from pipeline.model.client import ChatClient
from pipeline.model.limiter import Limiter
from pipeline.model.request import ModelSettings, build_request_body
from pipeline.recipes.loading import Recipe, RecipeError, load_recipe, parse_recipe
from pipeline.source import chunking

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "prompts"
BASE = RunConfig(repo=Path("."))
CHANGED = RunConfig(
    repo=Path("."),
    model="other/model",
    base_url="http://127.0.0.1:9/v1",
    api_key_env="OTHER_KEY",
    connect_timeout=1.5,
    read_timeout=2.5,
    stream=True,
    budget=640,
    repair_turns=3,
    refresh_cache=True,
    max_cost=0.5,
    import_timeout=4.0,
    test_timeout=5.0,
    test_cmd="pytest -q",
    allow_failing_base=True,
)


def _default(function: object, name: str) -> object:
    return inspect.signature(function).parameters[name].default  # type: ignore[arg-type]


def test_every_settings_object_starts_from_the_run_defaults() -> None:
    model = ModelSettings()
    assert (model.base_url, model.model, model.api_key_env) == (
        BASE.base_url,
        BASE.model,
        BASE.api_key_env,
    )
    assert (model.connect_timeout, model.read_timeout) == (BASE.connect_timeout, BASE.read_timeout)
    gates = GateSettings()
    assert (gates.import_timeout, gates.test_timeout) == (BASE.import_timeout, BASE.test_timeout)
    assert Policy().target_python == BASE.target_python
    assert _default(Recipe.render_messages, "target_python") == BASE.target_python
    assert _default(chunking.plan_file, "budget") == BASE.budget
    assert _default(Limiter.__init__, "concurrency") == BASE.concurrency


def test_model_settings_derive_from_the_config() -> None:
    derived = ModelSettings.from_config(CHANGED)
    for name in ("base_url", "model", "api_key_env", "connect_timeout", "read_timeout", "stream"):
        assert getattr(derived, name) == getattr(CHANGED, name), name
    assert ModelSettings.from_config(BASE) == ModelSettings()


def test_gate_settings_derive_from_the_config() -> None:
    gates = GateSettings.for_run(CHANGED, "llm")
    assert (gates.import_timeout, gates.test_timeout, gates.test_cmd) == (4.0, 5.0, "pytest -q")
    assert gates.allow_failing_base and not gates.import_check
    assert GateSettings.for_run(CHANGED, "codemod").import_check


def test_the_engines_derive_from_the_config() -> None:
    recipe = load_recipe("modernize")
    policy = Policy(recipe.allowances, CHANGED.target_python)
    assert CodemodFileEngine.from_config(recipe, policy, CHANGED).budget == 640

    async def build() -> LLMEngine:
        async with ChatClient(ModelSettings.from_config(CHANGED), api_key="k") as client:
            return LLMEngine.from_config(client, recipe, policy, CHANGED)

    engine = asyncio.run(build())
    assert (engine.repair_turns, engine.refresh_cache, engine.meter.max_cost) == (3, True, 0.5)
    assert engine.cache is None and engine.client.settings.model == "other/model"


@pytest.mark.parametrize("temperature", [0.01, 1.0, 2.0])
def test_one_temperature_rule_accepts_the_providers_range(temperature: float) -> None:
    body = build_request_body(
        ModelSettings(), [{"role": "user", "content": "x"}], temperature=temperature
    )
    assert body["temperature"] == temperature
    assert _recipe(temperature).params.temperature == temperature


@pytest.mark.parametrize("temperature", [0.0, -0.1, 2.5])
def test_one_temperature_rule_refuses_outside_it(temperature: float) -> None:
    with pytest.raises(ValueError, match=r"temperature must be in \(0, 2\]"):
        build_request_body(
            ModelSettings(), [{"role": "user", "content": "x"}], temperature=temperature
        )
    with pytest.raises(RecipeError, match=r"`model.temperature` must be in \(0, 2\]"):
        _recipe(temperature)


def _recipe(temperature: float) -> Recipe:
    text = (PROMPTS / "modernize.md").read_text(encoding="utf-8")
    assert "  temperature: 0.2\n" in text
    return parse_recipe(
        text.replace("  temperature: 0.2\n", f"  temperature: {temperature}\n"), "t.md"
    )


def test_only_the_config_reads_the_environment() -> None:
    readers = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
                readers.append(path.relative_to(ROOT).as_posix())
    # the gate's pytest plugin runs in the repository's own test process, not in codemill's
    plugin = "pipeline/gates/plugin/codemill_coverage.py"
    assert sorted(set(readers) - {plugin}) == ["pipeline/config.py"]
