"""Backend-neutral helpers every adapter builds on: OpenAI-style text messages with ``<image>`` markers, atomic
JSON Lines, the resize policy's bounds for a recipe or an export, CPU/GPU probing and precision, the recipe's
AdamW items, torchrun variables. Nothing here knows a particular trainer."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterable, Iterator, Optional

from .. import tiny
from ..errors import BridgeError, Problem
from ..frames import Frame, Pixels, effective_pixels
from ..recipe import DataSpec, DistributedSpec, Recipe, optimizer_settings
from ..recipe import model_family as family_of
from ..styles import Style, get_style
from ..styles.base import PromptOptions
from .base import ExportResult

if TYPE_CHECKING:
    from ..samples import Sample

TRAIN_FILE = "train.jsonl"
#: text LLaMA-Factory / ms-swift / verl / VLM-R1 read as "an image goes here" (never allowed inside our text)
PLACEHOLDERS = ("<image>", "<video>", "<audio>")



def text_messages(sample: "Sample", file: str, line: int) -> tuple[list[dict[str, str]], list[Problem]]:
    """The sample's prompt + target as ``[{"role", "content"}]`` with one ``<image>`` per image block.

    Returns problems (never raises) for text that contains a placeholder literally (the backend would take it for
    an image) and for image blocks that disagree with ``sample.images``."""
    problems: list[Problem] = []
    out: list[dict[str, str]] = []
    images: list[str] = []
    for i, m in enumerate(sample.messages):
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        parts = []
        for b in blocks:
            if b["type"] == "image":
                images.append(str(b["image"]))
                parts.append("<image>")
            else:
                text = b["text"]
                for ph in PLACEHOLDERS:
                    if ph in text:
                        problems.append(Problem(file, f"the prompt text contains {ph} literally; the backend would "
                                                "read it as a media placeholder", line=line, record=sample.id,
                                                field=f"messages[{i}]"))
                parts.append(text)
        out.append({"role": m["role"], "content": "".join(parts)})
    for ph in PLACEHOLDERS:
        if ph in sample.target:
            problems.append(Problem(file, f"the target text contains {ph} literally", line=line, record=sample.id,
                                    field="target"))
    if images != [str(p) for p in sample.images]:
        problems.append(Problem(file, "image blocks and sample.images disagree", line=line, record=sample.id,
                                expected=str(sample.images), found=str(images)))
    for p in sample.images:
        if not os.path.isabs(p):
            problems.append(Problem(file, "image path is not absolute", line=line, record=sample.id, found=p))
    out.append({"role": "assistant", "content": sample.target})
    return out, problems


#: ``json.dumps(row, ensure_ascii=False)`` with one encoder for every row (json.dumps with options builds a new
#: JSONEncoder per call); the same options, so the same bytes (tests/test_export_golden.py)
encode_row = json.JSONEncoder(ensure_ascii=False).encode


@contextmanager
def staged(path: Path, mode: str = "w") -> Iterator[IO]:
    """A file written to a temp sibling and renamed into place when the block ends without an error (nothing
    left behind otherwise): exports stream into it and may still refuse at the end."""
    tmp = path.with_name(path.name + f".partial-{os.getpid()}")
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows atomically (a temp file renamed into place; nothing left behind on error)."""
    with staged(path) as f:
        for row in rows:
            f.write(encode_row(row) + "\n")


@contextmanager
def export_dir(out: Path) -> Iterator[Path]:
    """``out`` created for a streamed export; removed again on failure when this call created it."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield out
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def has_gpu() -> bool:
    """Cheap GPU probe that imports nothing heavy (the launching machine is the training machine)."""
    return shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists()


def on_cpu(recipe: Recipe) -> bool:
    return recipe.train.device == "cpu" or (recipe.train.device == "auto" and not has_gpu())


def precision(recipe: Recipe) -> str:
    """``fp32`` on CPU (bf16/fp16 mixed precision needs a GPU), else the recipe's."""
    return "fp32" if on_cpu(recipe) else recipe.train.precision


def optimizer_items(recipe: Recipe) -> list[tuple[str, Any, Optional[str]]]:
    """The recipe's AdamW settings as config items, always explicit (ms-swift's own defaults differ)."""
    items = list(optimizer_settings(recipe).items())
    return [(k, v, "explicit: the recipe's AdamW settings (no backend default)" if i == 0 else None)
            for i, (k, v) in enumerate(items)]


def model_family(recipe: Recipe, model: str) -> Optional[str]:
    return family_of(model) or recipe.model_family()


def resolved_model(recipe: Recipe) -> str:
    """The recipe's model as a backend can load it (``tiny:<arch>`` built once into $BRIDGE_HOME)."""
    return str(tiny.cached_model(recipe.model_family())) if recipe.is_tiny else recipe.model


def prompt_options(data: DataSpec) -> PromptOptions:
    """:class:`PromptOptions` from a recipe's ``data`` section."""
    return PromptOptions(history=data.history, prev_image=data.prev_image, think=data.think,
                         min_pixels=data.min_pixels, max_pixels=data.max_pixels)


def make_style(name: str, options: PromptOptions) -> Style:
    """The style ``name`` with ``options`` (a BridgeError listing known styles when unknown)."""
    return get_style(name, options)


def pixels_for(recipe: Optional[Recipe], frame: Optional[Frame] = None) -> Optional[Pixels]:
    """The resize policy's bounds (docs/backends.md): the style's frame — the recipe's data.min/max_pixels, or
    the style's defaults when the recipe leaves them unset — which is also what the coordinates assume."""
    if frame is None and recipe is not None:
        try:
            frame = make_style(recipe.data.style, prompt_options(recipe.data)).frame()
        except BridgeError:   # unknown style: the model's processor bounds
            return effective_pixels(recipe.model, recipe.data.min_pixels, recipe.data.max_pixels,
                                    recipe.model_family())
    return None if frame is None else frame.pixels


def policy_pixels(recipe: Recipe, export: ExportResult) -> Optional[Pixels]:
    """The bounds a config must apply: the export's (its frame), which must agree with the recipe's."""
    px = pixels_for(recipe)
    got = export.meta.get("pixels")
    if got:
        exported = Pixels.from_dict(got)
        if px is not None and exported != px:
            raise BridgeError(f"the export at {export.out} was made for pixel bounds [{exported.min_pixels}, "
                              f"{exported.max_pixels}] (factor {exported.factor}) but this recipe's style frame has "
                              f"[{px.min_pixels}, {px.max_pixels}] (factor {px.factor})",
                              hint="re-export the dataset with this recipe (bridge run does it automatically)")
        return exported
    return px


def export_rows(samples: Iterable["Sample"], out: Path, row) -> tuple[int, dict[str, Any]]:
    """Stream ``out/train.jsonl`` from ``row(sample, messages) -> dict`` (memory constant in the number of
    samples); all problems are reported at once and nothing is left behind then."""
    problems: list[Problem] = []
    info: dict[str, Any] = {"style": None, "frame": None, "images": 0}
    file = str(out / TRAIN_FILE)
    n = 0
    with export_dir(out), staged(out / TRAIN_FILE) as f:
        for n, s in enumerate(samples, 1):
            messages, bad = text_messages(s, file, n)
            problems += bad
            if info["style"] is None:
                info["style"], info["frame"] = s.ground_truth.style, s.ground_truth.frame
            info["images"] += len(s.images)
            line = encode_row(row(s, messages))
            if not problems:
                f.write(line + "\n")
        if problems:
            raise BridgeError(f"{len(problems)} sample(s) cannot be exported", problems=problems)
        if not n:
            raise BridgeError("no samples to export (empty dataset, or the style refused every step)")
    return n, info


#: a config as ordered sections of (key, value, comment) items, what the YAML templates render
Sections = list[tuple[str, list[tuple[str, Any, Optional[str]]]]]


def apply_overrides(sections: Sections, overrides: dict[str, Any]) -> Sections:
    """The recipe's ``backends.<name>.overrides`` applied to a sectioned config: a key the config already sets is
    replaced in place, the others are appended as an ``overrides`` section (each marked "recipe override")."""
    if not overrides:
        return sections
    known = {k for _, items in sections for k, _, _ in items}
    for _, items in sections:
        for i, (k, _v, _c) in enumerate(items):
            if k in overrides:
                items[i] = (k, overrides[k], "recipe override")
    extra = [(k, v, "recipe override") for k, v in overrides.items() if k not in known]
    return sections + [("overrides", extra)] if extra else sections


def resume_hf_yaml(config: Path, checkpoint: Path) -> None:
    """HF-Trainer backends reading a flat YAML config (TRL's launcher, LLaMA-Factory, ms-swift): set
    ``resume_from_checkpoint`` (``Trainer.train(resume_from_checkpoint=...)``: weights, optimiser, scheduler, RNG
    and the step counter) in place of an earlier one."""
    lines = [ln for ln in Path(config).read_text(encoding="utf-8").splitlines()
             if not ln.startswith("resume_from_checkpoint:")]
    lines.append(f"resume_from_checkpoint: {json.dumps(str(checkpoint))}   # bridge run --resume")
    Path(config).write_text("\n".join(lines) + "\n", encoding="utf-8")


def torchrun_env(recipe: Recipe, force_var: Optional[str] = None) -> dict[str, str]:
    """torchrun variables for multi-GPU / multi-node runs (empty for a single process)."""
    d = recipe.distributed
    if d.world_size <= 1:
        return {}
    env = {"NNODES": str(d.nnodes), "NPROC_PER_NODE": str(d.nproc_per_node),
           "NODE_RANK": str(d.node_rank if d.node_rank is not None else os.environ.get("NODE_RANK", "0")),
           "MASTER_ADDR": d.master_addr, "MASTER_PORT": str(d.master_port)}
    if force_var:
        env[force_var] = "1"
    return env


#: glibc malloc settings for CPU training. The LM head's logits (tokens x 151,936 floats: ~0.8 GB for a batch of
#: two 640-token samples) and their gradients are allocated and freed every step; glibc serves blocks above its mmap
#: threshold (at most 32 MiB) with fresh mmap()s, so every step page-faults ~GBs back in — the system time that
#: exceeded user time in `make demo` (docs/performance.md). No mmap + no trimming keeps those pages in the heap.
CPU_MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:   # not Linux
        return os.cpu_count() or 1


def cpu_env(recipe: Recipe) -> dict[str, str]:
    """Launch variables of a single-process CPU run (empty on GPU and for multi-process runs, which keep their
    trainer's own settings): one compute thread per core given to the run — a user's ``OMP_NUM_THREADS`` wins —
    for OpenMP and MKL alike, no tokenizer thread pool, and :data:`CPU_MALLOC_ENV`."""
    if recipe.distributed.world_size > 1 or not on_cpu(recipe):
        return {}
    threads = os.environ.get("OMP_NUM_THREADS") or str(cpu_cores())
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false",
            **CPU_MALLOC_ENV}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        continue   # a line being written while we read
    except OSError:
        pass
    return rows


def node_rank(dist: DistributedSpec) -> int:
    """This machine's rank: the recipe's ``distributed.node_rank``, else ``$NODE_RANK``, else 0."""
    return dist.node_rank if dist.node_rank is not None else int(os.environ.get("NODE_RANK", "0") or 0)


def gpu_count() -> Optional[int]:
    """GPUs on this machine: ``nvidia-smi -L`` lines, else /dev/nvidia<N> devices; 0 when there is no sign of one;
    None when a GPU exists but cannot be counted (AMD /dev/kfd)."""
    if not has_gpu():
        return 0
    exe = shutil.which("nvidia-smi")
    if exe:
        try:
            out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20).stdout
            n = sum(1 for ln in out.splitlines() if ln.startswith("GPU "))
            if n:
                return n
        except (OSError, subprocess.TimeoutExpired):
            pass
    devs = [p for p in Path("/dev").glob("nvidia[0-9]*")]
    return len(devs) or None
