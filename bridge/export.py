"""After training: turn a run's output into a plain model directory any server loads, and say how to serve it.

:func:`export_run` finds what the run trained (a PEFT LoRA adapter or a full model, in ``output/`` or its newest
checkpoint), and runs :mod:`bridge.backends.export_merge` in the run's backend environment (it has torch,
transformers and peft) to write ``OUT``: merged weights (``merge_lora``) or the adapter, plus the processor
with the chat template and the image pixel bounds the model was trained with. Nothing partial is left behind:
the launcher writes a temporary sibling that is renamed into place on success.

:func:`serve_command` is the matching ``vllm serve`` command: image limit per prompt (the most images one
training sample had) and the pixel bounds through ``--mm-processor-kwargs`` (the coordinates the model learned
are those of the smart-resized image; a server resizing differently moves every click).
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .envs import resolve_python
from .errors import BridgeError

RESULT_PREFIX = "BRIDGE_EXPORT_RESULT "
#: ranks vLLM's --max-lora-rank accepts
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
EXPORT_META = "bridge_export.json"


@dataclass
class Trained:
    """What a run produced: ``kind`` ``lora`` (a PEFT adapter dir) or ``full`` (a model dir), and the base."""

    kind: str
    path: Path
    base: str
    lora_rank: Optional[int] = None
    #: ``hf`` (a Hugging Face / PEFT directory) or ``verl-fsdp`` (verl's ``global_step_<n>/actor`` FSDP shards,
    #: merged by verl's own ``python -m verl.model_merger merge --backend fsdp`` inside the export)
    layout: str = "hf"


@dataclass
class ExportedModel:
    out: Path
    name: str
    kind: str
    merged: bool
    base: str
    style: Optional[str]
    min_pixels: Optional[int]
    max_pixels: Optional[int]
    images_per_prompt: int
    serve: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "name": self.name, "kind": self.kind, "merged": self.merged, "base": self.base,
                "style": self.style, "min_pixels": self.min_pixels, "max_pixels": self.max_pixels,
                "images_per_prompt": self.images_per_prompt, "serve": self.serve,
                "serve_command": shlex.join(self.serve), **{k: v for k, v in self.info.items() if k != "files"}}


def read_record(run_dir: Path) -> dict[str, Any]:
    try:
        rec = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BridgeError(f"{run_dir}: not a run directory (no run.json; runs are written by `bridge run`)") from None
    except (OSError, ValueError) as e:
        raise BridgeError(f"{Path(run_dir) / 'run.json'}: unreadable run record: {e}") from None
    if not isinstance(rec, dict):
        raise BridgeError(f"{Path(run_dir) / 'run.json'}: unreadable run record: not a JSON object")
    return rec


def _ckpt(p: Path) -> int:
    try:
        return int(p.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def _candidates(output: Path) -> list[Path]:
    """The output dir, then its checkpoints newest first (also ms-swift's ``v*/checkpoint-*`` layout)."""
    ckpts = list(output.glob("checkpoint-*")) + list(output.glob("*/checkpoint-*"))
    return [output] + sorted((c for c in ckpts if c.is_dir()), key=_ckpt, reverse=True)


def _has_weights(d: Path) -> bool:
    return any(d.glob("*.safetensors")) or any(d.glob("pytorch_model*.bin"))


def _step(p: Path) -> int:
    name = p.parent.name
    return int(name.rpartition("_")[2]) if name.rpartition("_")[2].isdigit() else -1


def verl_checkpoint(output: Path) -> Optional[Path]:
    """The newest ``global_step_<n>/actor`` verl's FSDP checkpoint manager wrote under ``output``
    (``model_world_size_<w>_rank_<r>.pt`` shards + ``fsdp_config.json``;
    verl/utils/checkpoint/fsdp_checkpoint_manager.py)."""
    found = [d for d in output.glob("global_step_*/actor")
             if (d / "fsdp_config.json").is_file() and any(d.glob("model_world_size_*_rank_*.pt")) and _step(d) >= 0]
    return max(found, key=_step, default=None)


def _verl_trained(actor: Path, recipe_model: str) -> Trained:
    """A verl actor checkpoint: LoRA when verl wrote ``lora_train_meta.json`` (its rank and alpha)."""
    meta = actor / "lora_train_meta.json"
    rank = None
    if meta.is_file():
        try:
            rank = int(json.loads(meta.read_text(encoding="utf-8")).get("r") or 0) or None
        except (ValueError, TypeError, AttributeError) as e:
            raise BridgeError(f"{meta}: unreadable LoRA metadata: {e}") from None
    base = recipe_model or str(actor / "huggingface")
    return Trained("lora" if rank else "full", actor, base, rank, layout="verl-fsdp")


def find_trained(run_dir: Path, record: dict[str, Any]) -> Trained:
    """Locate the trained adapter / model of a run (a located BridgeError when the run saved none)."""
    output = Path(record.get("output_dir") or Path(run_dir) / "output")
    recipe_model = str((record.get("recipe") or {}).get("model") or "")
    actor = verl_checkpoint(output) if output.is_dir() else None
    if actor is not None:
        return _verl_trained(actor, recipe_model)
    for d in _candidates(output) if output.is_dir() else []:
        cfg = d / "adapter_config.json"
        if cfg.is_file() and _has_weights(d):
            try:
                ac = json.loads(cfg.read_text(encoding="utf-8"))
            except ValueError as e:
                raise BridgeError(f"{cfg}: unreadable adapter config: {e}") from None
            named = str(ac.get("base_model_name_or_path") or "")
            # a base inside the run folder is the run's own view of the recipe's model (VLM-R1's transformers-4
            # files, bridge/backends/vlmr1/tf4.py): the one its environment loads, so the one to merge into
            inside = named and Path(named).is_dir() and Path(run_dir).resolve() in Path(named).resolve().parents
            base = named if inside else recipe_model or named
            if not base:
                raise BridgeError(f"{cfg}: names no base model and the run record has none")
            return Trained("lora", d, base, ac.get("r"))
        if (d / "config.json").is_file() and _has_weights(d):
            return Trained("full", d, recipe_model or str(d))
    status = record.get("status", "?")
    raise BridgeError(f"{run_dir}: no trained model or adapter under {output} (run status: {status})",
                      hint="the backend saved nothing: check that the run finished (`bridge compare` shows its "
                           "status) and that its recipe saves the final model (train.save.strategy)")


def images_per_prompt(record: dict[str, Any]) -> int:
    """Most images one exported training sample carries (the server's per-prompt image limit)."""
    train = ((record.get("export") or {}).get("files") or {}).get("train")
    most = 0
    if train and str(train).endswith(".jsonl") and Path(train).is_file():
        with open(train, encoding="utf-8") as f:
            for line in f:
                try:
                    most = max(most, len(json.loads(line).get("images") or []))
                except (ValueError, AttributeError):
                    continue
    if most:
        return most
    data = (record.get("recipe") or {}).get("data") or {}
    return 2 if data.get("prev_image") else 1


def pixel_bounds(record: dict[str, Any]) -> tuple[Optional[int], Optional[int]]:
    """(min_pixels, max_pixels) the model trained with: the backend's read-back, else the recipe's."""
    eff = record.get("effective") or {}
    data = (record.get("recipe") or {}).get("data") or {}
    lo = eff.get("min_pixels") or data.get("min_pixels")
    hi = eff.get("max_pixels") or data.get("max_pixels")
    return (int(lo) if lo else None), (int(hi) if hi else None)


def serve_command(model: str, *, name: str, images: int, min_pixels: Optional[int], max_pixels: Optional[int],
                  lora: Optional[str] = None, lora_rank: Optional[int] = None) -> list[str]:
    """``vllm serve`` arguments matching the training: per-prompt image limit, the processor's pixel bounds and,
    for an unmerged adapter, LoRA serving on the base model."""
    argv = ["vllm", "serve", model]
    if lora:
        rank = next((r for r in VLLM_LORA_RANKS if r >= (lora_rank or 8)), VLLM_LORA_RANKS[-1])
        argv += ["--enable-lora", "--max-lora-rank", str(rank), "--lora-modules", f"{name}={lora}"]
    else:
        argv += ["--served-model-name", name]
    argv += ["--limit-mm-per-prompt", json.dumps({"image": images, "video": 0})]
    kw = {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v}
    if kw:
        argv += ["--mm-processor-kwargs", json.dumps(kw)]
    return argv


def backend_python(record: dict[str, Any], python: Optional[str] = None) -> str:
    """The interpreter to export with: ``python``, else the run's, else its backend's environment."""
    if python:
        return python
    py = record.get("python")
    if py and Path(py).exists():
        return str(py)
    return resolve_python(str(record.get("backend") or "trl"))


def export_run(run_dir: str | Path, out: str | Path, merge_lora: bool = False, python: Optional[str] = None,
               echo: Callable[[str], None] = print) -> ExportedModel:
    """Export the model a run trained into ``out`` (which must not exist). See the module docstring."""
    run_dir, out = Path(run_dir), Path(out).absolute()
    record = read_record(run_dir)
    if out.exists():
        raise BridgeError(f"{out} already exists", hint="choose another OUT or remove it")
    if not out.parent.is_dir():
        raise BridgeError(f"{out.parent}: directory does not exist")
    trained = find_trained(run_dir, record)
    if trained.kind == "lora" and not Path(trained.base).is_dir():
        # a hub id: the backend env resolves it from its cache; a missing local path is a clear error
        if trained.base.startswith(("/", ".")):
            raise BridgeError(f"base model directory not found: {trained.base}")
    py = backend_python(record, python)
    lo, hi = pixel_bounds(record)
    merge = merge_lora and trained.kind == "lora"
    if merge_lora and trained.kind != "lora":
        echo(f"note: {trained.path} is a full model (no LoRA to merge); exporting it as is")
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    request = {"source": str(trained.path), "kind": trained.kind, "base": trained.base, "out": str(tmp),
               "merge": merge, "min_pixels": lo, "max_pixels": hi, "layout": trained.layout,
               "processor_from": [str(trained.path), *([str(trained.path / "huggingface")]
                                                       if trained.layout == "verl-fsdp" else []), trained.base]}
    req_path = tmp.with_name(tmp.name + ".request.json")
    try:
        req_path.write_text(json.dumps(request), encoding="utf-8")
        echo(f"export: {trained.kind} from {trained.path}" + (" (merging into the base)" if merge else "")
             + f" with {py}")
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        if Path(trained.base).is_dir():
            env["HF_HUB_OFFLINE"] = "1"
        proc = subprocess.run([py, "-m", "bridge.backends.export_merge", "--request", str(req_path)],
                              capture_output=True, text=True, env=env)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
        if proc.returncode != 0 or not lines:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise BridgeError(f"export failed in the {record.get('backend')} environment (exit code "
                              f"{proc.returncode}):\n{tail}")
        info = json.loads(lines[-1][len(RESULT_PREFIX):])
        name = str(record.get("name") or run_dir.name)
        images = images_per_prompt(record)
        if trained.kind == "lora" and not merge:
            serve = serve_command(trained.base, name=name, images=images, min_pixels=lo, max_pixels=hi, lora=str(out),
                                  lora_rank=trained.lora_rank)
        else:
            serve = serve_command(str(out), name=name, images=images, min_pixels=lo, max_pixels=hi)
        style = ((record.get("recipe") or {}).get("data") or {}).get("style")
        result = ExportedModel(out, name, trained.kind, merge, trained.base, style, lo, hi, images, serve, info)
        meta = {**result.to_dict(), "run_dir": str(run_dir.absolute()), "backend": record.get("backend"),
                "source": str(trained.path)}
        (tmp / EXPORT_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        req_path.unlink(missing_ok=True)
    return result


def eval_hint(result: ExportedModel) -> str:
    """The `bridge eval` line that scores the served model on a canonical dataset."""
    return (f"bridge eval DATASET --style {result.style or 'STYLE'} --profile PROFILE "
            f"--endpoint http://localhost:8000 --model-name {shlex.quote(result.name)}")


__all__ = ["ExportedModel", "Trained", "eval_hint", "export_run", "find_trained", "images_per_prompt",
           "pixel_bounds", "serve_command"]
