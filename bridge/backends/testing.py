"""The backend conformance suite, importable and parametrised over the registry (built-ins and entry points).

Run it over every registered backend from any test module::

    from bridge.backends.testing import *   # noqa: F401,F403  (the test functions and their fixtures)

It needs the fixtures ``synth_dataset`` (a canonical dataset) and ``tiny_models`` (``family -> tiny model
directory``, each built once per session); tests/conftest.py has them, and an out-of-tree backend's tests get the
same ones with ``pytest_plugins = ["bridge.backends.testing"]`` in their conftest.py.

The data-level checks run per model family (bridge/families.py: Qwen2-VL, Qwen2.5-VL, Qwen3-VL — real architecture
classes, special-token ids and processor configs, factor 28 vs 32) with the family's own style
(:data:`FAMILY_STYLES`), over every family the backend declares it trains (``Adapter.families``); a family it
does not train is refused by name at recipe-check time (:func:`test_undeclared_families_are_refused_by_name`).

What it checks, per backend:

* the backend ships everything (:func:`missing`): a ``requirements.txt``, a ``check.py``, a ``logs.py`` with
  ``parse``/``settings``, an adapter ``read_config`` and, for GRPO, ``read_export`` and ``hook_scores``; anything
  missing and not declared in ``Adapter.gaps`` fails with what to add — a new backend is told what it lacks, never
  silently left out;
* its log parser reads an empty run directory without raising;
* with its environment installed (else skipped; a failure under ``BRIDGE_REQUIRE_BACKENDS=1``), for each family:
  its OWN loader and template encoding on our export (its ``check.py``, via ``bridge check``) drop nothing, announce
  one placeholder per image, give every image the token count of the style frame's grid (the family's factor),
  and decode to the very prompt and target the family's Hugging Face processor produces; a backend training SFT
  and GRPO does the same on its GRPO export;
* after a 2-step CPU smoke run with LoRA on the language model and the vision tower, the LoRA weights it saved sit
  exactly on the Linear layers of those parts.

A declared gap (``Adapter.gaps = {"readback": "why"}``) turns the matching test into a strict xfail: it must fail
with :class:`Gap` (or :class:`NeedsGPU`), and the day the backend gains the item the xfail fails, so the
declaration is removed.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from .. import envs
from ..families import FAMILIES, FAMILY_NAMES, label
from ..frames import image_tokens
from ..images import image_size
from ..errors import BridgeError
from ..recipe import Recipe, check_backend, parse_recipe
from ..runs import export_dataset
from ..samples import build_samples
from ..synth import make_dataset
from ..tiny import PIXELS, build_tiny_model
from . import available_adapters, get_adapter
from .base import Adapter
from .check import collapse_pads, run_check
from .common import make_style, prompt_options

MIN_PIXELS, MAX_PIXELS = 3136, 12544       # the tiny Qwen2/2.5-VL processor's bounds (bridge.tiny.PIXELS)
#: each family's own style: the one whose frame it reads (bridge/families.py; tests/test_families.py)
FAMILY_STYLES = {"qwen2_vl": "qwen2vl", "qwen2_5_vl": "qwen25vl", "qwen3_vl": "qwen3vl"}
REQUIRE_BACKENDS = os.environ.get("BRIDGE_REQUIRE_BACKENDS") == "1"

#: what every backend ships -> how to add it (the keys are also the names ``Adapter.gaps`` may declare)
ITEMS = {
    "requirements": "requirements.txt in the backend's package: the pinned environment `bridge env install` builds",
    "check": "check.py in the backend's package: the in-environment script of `bridge check` "
             "(protocol: bridge/backends/check.py; prelude: bridge.backends.inenv)",
    "logs": "logs.py in the backend's package with parse(run_dir) -> Parsed and settings(run_dir, record) -> dict "
            "(vocabulary: bridge/backends/logs.py)",
    "read_config": "Adapter.read_config(files, recipe): the normalised settings read back from the rendered config",
    "read_export": "Adapter.read_export(export) (GRPO backends): the exported samples read as the backend reads them",
    "hook_scores": "Adapter.hook_scores(row, completions) (GRPO backends): its reward hook called as its trainer "
                   "calls it",
}
#: test-level gaps an adapter may declare besides the items
TESTS = ("readback",)


class Gap(Exception):
    """The backend lacks what the test needs (declared in ``Adapter.gaps``: a strict xfail)."""


class NeedsGPU(Gap):
    """The backend cannot train on this machine (no GPU), so nothing can be read back from a trained adapter."""


# ----------------------------------------------------------------------------------------------- the registry

def missing(adapter: Adapter) -> dict[str, str]:
    """What ``adapter``'s backend does not ship: item -> how to add it (see :data:`ITEMS`)."""
    out = {}
    if adapter.requirements_file() is None:
        out["requirements"] = ITEMS["requirements"]
    if adapter.check_script() is None:
        out["check"] = ITEMS["check"]
    mod = adapter.log_parser()
    if mod is None or not (callable(getattr(mod, "parse", None)) and callable(getattr(mod, "settings", None))):
        out["logs"] = ITEMS["logs"]
    for item in ("read_config",) + (("read_export", "hook_scores") if "grpo" in adapter.methods else ()):
        if getattr(type(adapter), item) is getattr(Adapter, item):
            out[item] = ITEMS[item]
    return out


def method_of(adapter: Adapter) -> str:
    """The method a backend's data-level checks use (SFT when it has it: the target then trains)."""
    return "sft" if "sft" in adapter.methods else "grpo"


def params(test: str, names: Callable[[dict[str, Adapter]], list[str]] = lambda a: list(a)) -> list[Any]:
    """pytest parameters over the registered backends (those ``names`` picks): a backend declaring ``test`` (or the
    item the test needs) as a gap is a strict xfail raising :class:`Gap`."""
    adapters = available_adapters()
    out = []
    for name in names(adapters):
        why = adapters[name].gaps.get(test)
        out.append(pytest.param(name, id=name, marks=pytest.mark.xfail(raises=Gap, strict=True,
                                                                        reason=f"declared gap: {why}"))
                   if why else pytest.param(name, id=name))
    return out


def trains(adapter: Adapter, family: str, method: str) -> bool:
    """Whether the backend declares it trains ``family`` with ``method`` (an undeclared matrix: every family)."""
    got = adapter.family_methods(family)
    return method in adapter.methods and (got is None or method in got)


def family_params(test: str, names: Callable[[dict[str, Adapter]], list[str]] = lambda a: list(a),
                  method: Callable[[Adapter], str] = lambda a: method_of(a)) -> list[Any]:
    """pytest parameters ``(backend, family)`` over the registered backends and every family each declares it
    trains with the test's ``method``; gaps as in :func:`params`."""
    adapters = available_adapters()
    out = []
    for p in params(test, names):
        name = p.values[0]
        for family in FAMILY_NAMES:
            if trains(adapters[name], family, method(adapters[name])):
                out.append(pytest.param(name, family, id=f"{name}-{family}", marks=p.marks))
    return out


def require(adapter: Adapter, item: str) -> None:
    """Raise :class:`Gap` when the backend does not ship ``item``."""
    if item in missing(adapter):
        raise Gap(f"{adapter.name} has no {item}: {ITEMS[item]}")


def skip_or_fail(reason: str) -> None:
    """Skip locally; fail when the run promised real backends (BRIDGE_REQUIRE_BACKENDS=1)."""
    if REQUIRE_BACKENDS:
        pytest.fail(f"{reason} (BRIDGE_REQUIRE_BACKENDS=1)")
    pytest.skip(reason)


def backend_python(name: str) -> str:
    """Interpreter of backend environment ``name``; skip (or fail, see above) unless it is installed and current."""
    st = envs.status(name)
    if st.state != "ok":
        skip_or_fail(f"the {name} environment is {st.state} ({st.path}); "
                     f"install it with `{envs.install_command(name)}`")
    return str(st.python)


def vlmr1_checkout() -> Path:
    """The VLM-R1 checkout the tests run: the one its environment was built from, else ``../shared/vendor/vlm-r1``
    beside this repository (what ``make test`` builds it from); skip (or fail, see above) without one."""
    here = Path(__file__).resolve().parents[2].parent / "shared" / "vendor" / "vlm-r1"
    for c in (envs.env_checkout("vlmr1"), here):
        if c is not None and Path(c).is_dir():
            return Path(c)
    skip_or_fail(f"no VLM-R1 checkout (looked for {here})")
    raise AssertionError  # unreachable


# ----------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory) -> Path:
    """6 synthetic episodes (phone and desktop screenshots, every action type): ``bridge.synth.make_dataset``."""
    return make_dataset(tmp_path_factory.mktemp("synth") / "dataset", episodes=6, seed=0, platform="mixed")


_built: dict[tuple[int, str], Path] = {}


def tiny_model(tmp_path_factory, arch: str) -> Path:
    """A tiny random ``arch`` model in a temporary directory, built once per test session and ``arch`` (skips
    without torch/transformers). Read-only: copy before modifying."""
    for module in ("torch", "transformers"):
        try:
            __import__(module)
        except ImportError:
            skip_or_fail(f"{module} is not installed in this environment (make dev installs it)")
    key = (id(tmp_path_factory), arch)
    if key not in _built:
        _built[key] = build_tiny_model(tmp_path_factory.mktemp("tiny") / arch, arch=arch, seed=0)
    return _built[key]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Callable[[str], Path]:
    """``family -> directory`` of its tiny model (:func:`tiny_model`: each built once per session)."""
    return lambda family: tiny_model(tmp_path_factory, family)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory, "qwen2_vl")


def recipe(dataset: Path, model: Path, method: str, family: str = "qwen2_vl", **extra: Any) -> Recipe:
    """The conformance recipe for a tiny ``family`` model: the family's own style and its processor's bounds."""
    _, _, lo, hi = PIXELS[family]
    d = {"name": "conformance", "model": str(model), "method": method,
         "data": {"train": str(dataset), "style": FAMILY_STYLES[family], "history": 2, "prev_image": True,
                  "min_pixels": lo, "max_pixels": hi},
         "train": {"max_steps": 2, "device": "cpu"}, **extra}
    if method == "grpo":   # a generation round holds whole groups (2 completions per device = one prompt)
        d["grpo"] = {"num_generations": 2, "max_completion_length": 16}
        d["train"]["per_device_batch"] = 2
    return parse_recipe(d)


@pytest.fixture(scope="module")
def checked(synth_dataset, tiny_models, tmp_path_factory):
    """(backend, method, family) -> (export, verdict, recipe) of ``bridge check``, computed once each on first use."""
    cache: dict = {}

    def get(backend: str, method: str = "", family: str = "qwen2_vl"):
        adapter = get_adapter(backend)
        method = method or method_of(adapter)
        if (backend, method, family) not in cache:
            require(adapter, "check")
            backend_python(backend)
            r = recipe(synth_dataset, tiny_models(family), method, family)
            out = tmp_path_factory.mktemp(f"conf-{backend}-{method}-{family}") / "export"
            style = make_style(r.data.style, prompt_options(r.data))
            res, _ = export_dataset(adapter, synth_dataset, style, r.method, out, r)
            cache[backend, method, family] = (res, run_check(backend, out, recipe=r), r)
        return cache[backend, method, family]
    return get


class References:
    """``reference(family)``: the first sample's prompt and target as that family's HF processor renders them
    (computed once each); ``reference[key]`` is the Qwen2-VL one, as the fixture was before families."""

    def __init__(self, dataset: Path, models: Callable[[str], Path]):
        self.dataset, self.models, self.cache = dataset, models, {}

    def __call__(self, family: str = "qwen2_vl") -> dict[str, Any]:
        if family not in self.cache:
            self.cache[family] = _reference(self.dataset, self.models(family), family)
        return self.cache[family]

    def __getitem__(self, key: str) -> Any:
        return self()[key]


@pytest.fixture(scope="module")
def reference(synth_dataset, tiny_models) -> References:
    """family -> the first sample's prompt and target as that family's HF processor renders them with the recipe's
    bounds (:class:`References`)."""
    pytest.importorskip("transformers")
    return References(synth_dataset, tiny_models)


def _reference(dataset: Path, model: Path, family: str) -> dict[str, Any]:
    from PIL import Image
    from transformers import AutoProcessor

    r = recipe(dataset, model, "sft", family)
    sample = next(iter(build_samples(dataset, make_style(r.data.style, prompt_options(r.data)))))
    proc = AutoProcessor.from_pretrained(model, min_pixels=r.data.min_pixels, max_pixels=r.data.max_pixels)
    msgs = [{"role": m["role"], "content": [{"type": "image"} if b["type"] == "image" else b for b in m["content"]]}
            for m in sample.messages]
    text = proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    grids = proc.image_processor([Image.open(p).convert("RGB") for p in sample.images])["image_grid_thw"]
    parts = text.split("<|image_pad|>")
    assert len(parts) == len(sample.images) + 1
    counts = [int(g.prod()) // 4 for g in grids]
    prompt = parts[0] + "".join("<|image_pad|>" * n + rest for n, rest in zip(counts, parts[1:]))
    # SFT trains the reply and its end-of-turn; a GRPO check reports the (given) completion text itself
    return {"prompt": prompt, "sft": sample.target + "<|im_end|>\n", "grpo": sample.target, "tokens": counts}


# ----------------------------------------------------------------------------------------------- completeness

@pytest.mark.parametrize("backend", params("complete"))
def test_backend_ships_everything(backend):
    adapter = get_adapter(backend)
    lacks = {k: v for k, v in missing(adapter).items() if k not in adapter.gaps}
    assert not lacks, (f"backend {backend!r} lacks:\n" + "\n".join(f"  - {k}: {v}" for k, v in lacks.items())
                       + f"\n(add them to its package {adapter.package()}, or declare a known gap in "
                       f"{type(adapter).__name__}.gaps)")


@pytest.mark.parametrize("backend", params("gaps"))
def test_declared_gaps_are_real(backend):
    """A gap names a known item or test, and a declared missing item is really missing (else drop the gap)."""
    adapter = get_adapter(backend)
    assert set(adapter.gaps) <= set(ITEMS) | set(TESTS), sorted(set(adapter.gaps) - set(ITEMS) - set(TESTS))
    stale = [k for k in adapter.gaps if k in ITEMS and k not in missing(adapter)]
    assert not stale, (f"{backend} declares {stale} missing but ships them: remove them from "
                       f"{type(adapter).__name__}.gaps")


@pytest.mark.parametrize("backend", params("declaration"))
def test_adapter_declares_itself(backend):
    adapter = get_adapter(backend)
    assert adapter.name == backend and adapter.methods and adapter.methods <= {"sft", "grpo"}
    adapter.caps()   # capabilities given as a dict with unknown keys are an error here
    assert adapter.description


@pytest.mark.parametrize("backend", params("logs"))
def test_log_parser_reads_an_empty_run(backend, tmp_path):
    adapter = get_adapter(backend)
    require(adapter, "logs")
    parsed = adapter.parse_run(tmp_path)
    assert parsed.rows == []
    assert isinstance(adapter.resolved_settings(tmp_path, {}), dict)


# ----------------------------------------------------------------------------------------------- data level

@pytest.mark.parametrize(("backend", "family"), family_params("check"))
def test_loader_reads_the_export_with_zero_drops(checked, backend, family):
    export, v, _ = checked(backend, family=family)
    assert v.report["errors"] == [], v.summary()
    assert v.report["dropped"] == [] and v.report["loaded"] == v.report["samples_in"] == export.samples > 0


@pytest.mark.parametrize(("backend", "family"), family_params("check"))
def test_placeholder_counts_match_images(checked, backend, family):
    export, v, _ = checked(backend, family=family)
    samples = v.report["samples"]
    assert len(samples) == export.samples
    assert sum(len(s["images"]) for s in samples) == export.meta["images"]
    for s in samples:
        assert s["placeholders"] == len(s["images"]) == len(s["image_tokens"]) >= 1, s


@pytest.mark.parametrize(("backend", "family"), family_params("check"))
def test_image_grid_is_what_the_style_frame_assumed(checked, backend, family):
    _, v, r = checked(backend, family=family)
    frame = make_style(r.data.style, prompt_options(r.data)).frame()
    # the family's own style: its coordinate convention, its processor's factor and the tiny processor's bounds
    assert (frame.kind, frame.factor) == (FAMILIES[family].coords, FAMILIES[family].factor)
    assert (frame.min_pixels, frame.max_pixels) == PIXELS[family][2:]
    for s in v.report["samples"]:
        want = []
        for p in s["images"]:
            w, h = image_size(p)
            want.append(image_tokens(h, w, frame.factor, frame.min_pixels, frame.max_pixels))
        assert s["image_tokens"] == want, s["id"]
    assert v.ok, v.summary()


@pytest.mark.parametrize(("backend", "family"), family_params("check"))
def test_prompt_and_target_identical_to_the_hf_processor(checked, reference, backend, family):
    _, v, _ = checked(backend, family=family)
    ref = reference(family)
    first = v.report["first"]
    assert collapse_pads(first["prompt"]) == collapse_pads(ref["prompt"])
    assert first["prompt"] == ref["prompt"]
    assert first["target"] == ref[method_of(get_adapter(backend))]
    assert v.report["samples"][0]["image_tokens"] == ref["tokens"] or v.report["samples"][0]["index"] != 0


@pytest.mark.parametrize(("backend", "family"), family_params(
    "check", lambda a: [n for n, x in a.items() if x.methods >= {"sft", "grpo"}], method=lambda a: "grpo"))
def test_grpo_export_goes_through_the_same_data_path(checked, reference, backend, family):
    export, v, _ = checked(backend, "grpo", family)
    ref = reference(family)
    rep = v.report
    assert v.ok, v.summary()
    assert rep["method"] == "grpo" and rep["dropped"] == [] and rep["loaded"] == export.samples > 0
    assert rep["first"]["prompt"] == ref["prompt"]          # the very prompt the SFT path renders
    assert rep["first"]["target"] == ref["grpo"]            # the completion's own text, no end-of-turn
    assert rep["samples"][0]["image_tokens"] == ref["tokens"]


@pytest.mark.parametrize("backend", params("families"))
def test_undeclared_families_are_refused_by_name(backend, synth_dataset):
    """A family (or a family's method) the backend does not declare in ``Adapter.families`` is refused when the
    recipe is checked, naming the family — not discovered when the run fails."""
    adapter = get_adapter(backend)
    if adapter.families is None:
        pytest.skip(f"{backend} declares no families (no claim)")
    for family in FAMILY_NAMES:
        for method in sorted(adapter.methods):
            r = recipe(synth_dataset, f"tiny:{family}", method, family)   # type: ignore[arg-type]
            if trains(adapter, family, method):
                assert not [p for p in adapter.recipe_problems(r) if p.field == "model"], (family, method)
                continue
            with pytest.raises(BridgeError) as e:
                check_backend(r, adapter)
            [p] = [p for p in e.value.problems if p.field == "model"]
            assert f"{backend}: cannot train the {label(family)} family" in p.message and p.found == family


# ----------------------------------------------------------------------------------------------- read back

def lora_modules(adapter_file: Path) -> set[str]:
    """Module names that carry LoRA weights, from the safetensors header (no torch needed)."""
    with open(adapter_file, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        keys = json.loads(f.read(n)).keys()
    out = set()
    for k in keys:
        if ".lora_A." in k:
            name = k.split(".lora_A.")[0]
            out.add(name.split("base_model.model.", 1)[-1])
    return out


def expected_lora_modules(model_dir: Path, parts: set[str]) -> set[str]:
    """Every nn.Linear inside the parts that train (the recipe's all-linear), from the model skeleton."""
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForImageTextToText

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(model_dir))
    prefixes = {"language_model": ".language_model.", "vision_tower": ".visual.blocks.", "projector": ".visual.merger."}
    return {name for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)
            and any(prefixes[p] in f".{name}." for p in parts)}


@pytest.mark.slow
@pytest.mark.parametrize("backend", params("readback", lambda a: [n for n, x in a.items() if n != "trl" and x.tested]))
def test_lora_targets_and_frozen_parts_read_back(backend, synth_dataset, tmp_path):
    """(TRL's read-back is tests/test_trl_smoke.py.)"""
    adapter = get_adapter(backend)
    if not adapter.caps().cpu and not Path("/dev/nvidia0").exists():
        raise NeedsGPU(f"{backend} cannot train without a GPU")
    if not adapter.caps().lora_vision:
        raise Gap(f"{backend} never puts LoRA on the vision tower (capabilities.lora_vision)")
    python = backend_python(backend)
    # LoRA on the language model AND the vision tower; projector frozen
    rec = {"name": "readback", "model": "tiny:qwen2_vl", "method": method_of(adapter),
           "data": {"train": str(synth_dataset), "style": FAMILY_STYLES["qwen2_vl"], "history": 1},
           "finetune": {"type": "lora", "rank": 4, "alpha": 8, "train": {"language_model": True, "vision_tower": True}},
           "train": {"max_steps": 2}, "backends": {backend: {"python": python}}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(rec))
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", str(path), "--smoke", "--backend", backend,
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = next((tmp_path / "runs").iterdir())
    found = sorted(run_dir.joinpath("output").rglob("adapter_model.safetensors"))
    assert found, f"no adapter saved under {run_dir / 'output'}"
    got = lora_modules(found[-1])
    model_dir = Path(json.loads((run_dir / "run.json").read_text())["recipe"]["model"])
    want = expected_lora_modules(model_dir, {"language_model", "vision_tower"})
    assert got == want, (sorted(got - want)[:10], sorted(want - got)[:10])
    assert not any(".visual.merger." in f".{m}." for m in got)       # the projector stays frozen


__all__ = ["Gap", "NeedsGPU", "checked", "reference", "tiny_models", "test_adapter_declares_itself",
           "test_backend_ships_everything", "test_undeclared_families_are_refused_by_name",
           "test_declared_gaps_are_real", "test_grpo_export_goes_through_the_same_data_path",
           "test_image_grid_is_what_the_style_frame_assumed", "test_log_parser_reads_an_empty_run",
           "test_lora_targets_and_frozen_parts_read_back", "test_loader_reads_the_export_with_zero_drops",
           "test_placeholder_counts_match_images", "test_prompt_and_target_identical_to_the_hf_processor"]
