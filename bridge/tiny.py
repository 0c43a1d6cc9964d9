"""Tiny random Qwen-VL models, built offline, for the demo, ``--smoke`` runs and the tests.

``build_tiny_model(out, arch="qwen2_vl", seed=0)`` writes a directory that loads like a real checkpoint with
``AutoProcessor.from_pretrained`` + ``AutoModelForImageTextToText.from_pretrained`` (safetensors weights,
config, generation config, tokenizer, chat template, image *and* video processor configs), and ``generate()``
runs on CPU. Nothing is downloaded:

* the architecture is the real one (``Qwen2VLForConditionalGeneration``, ``Qwen2_5_VLForConditionalGeneration``
  or ``Qwen3VLForConditionalGeneration``) at toy size — text hidden 64, 2 layers, 4 heads (2 KV heads), a 2-block
  ViT of width 32, tied embeddings, init std :data:`INIT_STD` and text rotary base :data:`ROPE_THETA` (chosen so
  that the model can learn from pixels) — with random weights drawn from ``torch.manual_seed(seed)`` (same seed →
  identical tensors), saved under the published checkpoints' tensor names;
* the tokenizer is a byte-level BPE *trained from scratch* on :func:`corpus` with the Qwen2 pre-tokenizer, its
  vocabulary padded with ``[unusedN]`` fillers so that the Qwen special tokens keep their **real ids**
  (:data:`SPECIAL_TOKENS`; ms-swift hard-codes ``<|image_pad|>`` = 151655 and silently drops images otherwise);
  ``vocab_size`` is 151936 as in the real configs (Qwen3-VL adds ``<tool_response>``/``<think>`` at 151665-8);
* the chat template renders the Qwen-VL format (``<|im_start|>role\\n…<|im_end|>\\n``, images as
  ``<|vision_start|><|image_pad|><|vision_end|>``, ``add_generation_prompt``; Qwen2/2.5-VL add the default
  system prompt when there is none, Qwen3-VL does not);
* the image processor is ``Qwen2VLImageProcessor`` with small ``min_pixels``/``max_pixels`` (:data:`PIXELS`:
  factor 28 and 3136..12544 for Qwen2/2.5-VL, factor 32 and 4096..16384 for Qwen3-VL) so a 270x540 phone
  screenshot becomes 10 image tokens; ``video_preprocessor_config.json`` and ``preprocessor_config.json`` are
  written next to transformers 5.23's combined ``processor_config.json`` (transformers 5 always builds a video
  processor; LLaMA-Factory fails without that file).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Optional, Union

from .envs import bridge_home
from .errors import BridgeError

ARCHS = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
VOCAB_SIZE = 151936
#: Smart-resize bounds of the Qwen2/2.5-VL tiny processors: 4 to 16 merged 28x28 patches (a 270x540 phone
#: screenshot -> 10 image tokens, a 640x400 desktop one -> 15).
MIN_PIXELS = 56 * 56
MAX_PIXELS = 16 * 28 * 28
FACTOR = 28
#: Per architecture: (patch size, smart-resize factor, min_pixels, max_pixels). Qwen3-VL uses 16-pixel patches,
#: so factor 32; its bounds are again 4 to 16 merged patches (270x540 -> 10 tokens).
PIXELS: dict[str, tuple[int, int, int, int]] = {
    "qwen2_vl": (14, 28, MIN_PIXELS, MAX_PIXELS),
    "qwen2_5_vl": (14, 28, MIN_PIXELS, MAX_PIXELS),
    "qwen3_vl": (16, 32, 64 * 64, 16 * 32 * 32),
}
#: Trained BPE entries (bytes + merges) before the filler padding.
BPE_SIZE = 2048
HIDDEN = 64
#: Weight init std of every tiny tower. The real configs' 0.02 is ~1/sqrt(width) of a 2,000-wide model; at width
#: 64/32 it makes the image path ~50x weaker than the text path at init, and a trained tiny model then answers the
#: same for every screen (docs/demo.md, "Why the tiny model can see"). 0.1 ~ 1/sqrt(64) lets it learn from pixels.
INIT_STD = 0.1
#: Text rotary base of the Qwen2/2.5-VL tiny models (see _config).
ROPE_THETA = 10.0
#: Bumped whenever the tiny models' weights or configs change: the cache folder is named after it, so a machine
#: (or another checkout on it) never trains a stale tiny model.
TINY_VERSION = 2


def cache_name(arch: str) -> str:
    """``<arch>-seed0-v<TINY_VERSION>``: the folder under ``$BRIDGE_HOME/tiny`` that holds ``tiny:<arch>``."""
    return f"{arch}-seed0-v{TINY_VERSION}"

#: (id, content, special) of the Qwen2-VL / Qwen2.5-VL added tokens, with their real ids.
SPECIAL_TOKENS: tuple[tuple[int, str, bool], ...] = (
    (151643, "<|endoftext|>", True), (151644, "<|im_start|>", True), (151645, "<|im_end|>", True),
    (151646, "<|object_ref_start|>", True), (151647, "<|object_ref_end|>", True),
    (151648, "<|box_start|>", True), (151649, "<|box_end|>", True),
    (151650, "<|quad_start|>", True), (151651, "<|quad_end|>", True),
    (151652, "<|vision_start|>", True), (151653, "<|vision_end|>", True), (151654, "<|vision_pad|>", True),
    (151655, "<|image_pad|>", True), (151656, "<|video_pad|>", True),
    (151657, "<tool_call>", False), (151658, "</tool_call>", False),
    (151659, "<|fim_prefix|>", False), (151660, "<|fim_middle|>", False), (151661, "<|fim_suffix|>", False),
    (151662, "<|fim_pad|>", False), (151663, "<|repo_name|>", False), (151664, "<|file_sep|>", False),
)
#: Qwen3-VL's tokenizer adds these after the Qwen2.5 ones (not special: they stay in decoded text).
QWEN3_TOKENS: tuple[tuple[int, str, bool], ...] = (
    (151665, "<tool_response>", False), (151666, "</tool_response>", False),
    (151667, "<think>", False), (151668, "</think>", False),
)
FIRST_SPECIAL_ID = SPECIAL_TOKENS[0][0]
TOKEN_IDS = {content: i for i, content, _ in SPECIAL_TOKENS + QWEN3_TOKENS}


def added_tokens(arch: str) -> tuple[tuple[int, str, bool], ...]:
    """(id, content, special) of the added tokens of ``arch``'s real tokenizer."""
    return SPECIAL_TOKENS + (QWEN3_TOKENS if arch == "qwen3_vl" else ())


#: Qwen2's pre-tokenizer split (a fact of the format: digits one by one, letters runs, punctuation runs).
PRETOKENIZE_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                     r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

DEFAULT_SYSTEM = "You are a helpful assistant."


def chat_template(default_system: bool = True) -> str:
    """The Qwen-VL chat format as a Jinja template. Qwen2/2.5-VL insert :data:`DEFAULT_SYSTEM` when the first
    message is not a system one; Qwen3-VL does not. Parts are dispatched on ``type`` when present (a
    datasets-made row can carry ``image: None`` on a text part), else on which key they have."""
    system = ("{%- if loop.first and message['role'] != 'system' -%}"
              "{{- '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' -}}"
              "{%- endif -%}") if default_system else ""
    return _TEMPLATE_HEAD + system + _TEMPLATE_BODY


_TEMPLATE_HEAD = (
    "{%- set counts = namespace(image=0, video=0) -%}"
    "{%- for message in messages -%}")
_TEMPLATE_BODY = (
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- set kind = part['type'] if part['type'] is defined and part['type'] else "
    "('image' if ('image' in part or 'image_url' in part) else ('video' if 'video' in part else 'text')) -%}"
    "{%- if kind == 'image' or kind == 'image_url' -%}"
    "{%- set counts.image = counts.image + 1 -%}"
    "{%- if add_vision_id -%}{{- 'Picture ' ~ counts.image ~ ': ' -}}{%- endif -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif kind == 'video' -%}"
    "{%- set counts.video = counts.video + 1 -%}"
    "{%- if add_vision_id -%}{{- 'Video ' ~ counts.video ~ ': ' -}}{%- endif -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif part['text'] is defined and part['text'] is not none -%}"
    "{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
#: The Qwen2-VL / Qwen2.5-VL template (with the default system prompt).
CHAT_TEMPLATE = chat_template(True)


def corpus() -> list[str]:
    """The built-in training text of the tiny tokenizer: GUI instructions, action JSON in the project's styles,
    think/answer/tool-call wrappers, coordinates and digits. Deterministic (no randomness)."""
    from .schema import ACTION_TYPES
    from .synth import FIRST_NAMES, MESSAGES, PRODUCTS, SETTINGS_ROWS, SONGS

    lines = [
        "You are a GUI agent. You are given a task and a screenshot of the screen. Decide the next action.",
        "You are a helpful assistant.",
        "Output the thinking process in <think> </think> and the final answer in <answer> </answer> tags.",
        "<think>The Send button is at the bottom right of the screen.</think><answer>[{'action': 'click', "
        "'point': [240, 498], 'input_text': 'no input text'}]</answer>",
        '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [135, 270]}}\n'
        '</tool_call>',
        '{"name": "mobile_use", "arguments": {"action": "swipe", "coordinate": [200, 300], '
        '"coordinate2": [70, 300]}}',
        '{"name": "mobile_use", "arguments": {"action": "type", "text": "hello"}}',
        '{"name": "mobile_use", "arguments": {"action": "terminate", "status": "success"}}',
        '{"POINT": [512, 384], "duration": 200, "TYPE": "hello", "PRESS": "HOME", "STATUS": "finish", '
        '"to": "up"}',
        '{"action_type": "click", "action_parameter": {"click": "10,20,110,60"}, "action_description": "tap"}',
        "Thought: I should tap the search field first.\nAction: click(start_box='(120,245)')",
        "Action: type(content='blue backpack')  Action: scroll(direction='down')  Action: press_home()",
        "Task: Open the Settings app and turn on dark mode. Previous actions: Step 1: open app Settings.",
        "Instruction: find the price of the item. History: none. Screen size 270 x 540 pixels.",
        "The quick brown fox jumps over the lazy dog. Click, tap, press, long press, swipe up, swipe down.",
        "status complete impossible interrupt need_feedback answer ask_user open_app navigate_back "
        "navigate_home double_click right_click long_press key enter select wait drag scroll swipe type",
        "up down left right point bbox end_point direction text app key duration_ms status",
    ]
    lines += [f"{{\"action\": \"{t}\"}} {t.replace('_', ' ')}" for t in ACTION_TYPES]
    lines += [f"Send a message to {n} saying \"{m}\"" for n, m in zip(FIRST_NAMES, MESSAGES * 2)]
    lines += [f"The {p.lower()} costs ${c:.2f}." for p, c in PRODUCTS]
    lines += [f"Open {r} in Settings. Play {s}." for r, s in zip(SETTINGS_ROWS, SONGS * 2)]
    lines += [f"[{x}, {y}] ({x},{y}) [{x}, {y}, {x + 40}, {y + 20}] 0.{x:03d}"
              for x, y in zip(range(0, 1000, 7), range(999, 0, -11))]
    lines += [" ".join(str(i) for i in range(k, k + 50)) for k in range(0, 1000, 50)]
    return lines


def _train_bpe(tokens: tuple[tuple[int, str, bool], ...] = SPECIAL_TOKENS):
    """Train the byte-level BPE and return (vocab, merges) padded so ``tokens`` land on their real ids."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_SIZE, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]
    # Fillers are never produced by encoding (no merge builds them); they only keep the real ids free.
    for i in range(len(vocab), FIRST_SPECIAL_ID):
        vocab[f"[unused{i}]"] = i
    for i, content, _ in tokens:
        vocab[content] = i
    return vocab, merges


def build_tokenizer(arch: str = "qwen2_vl"):
    """The tiny Qwen2 tokenizer (a ``Qwen2Tokenizer``) with ``arch``'s real added-token ids and chat template."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    tokens = added_tokens(arch)
    vocab, merges = _train_bpe(tokens)
    extra = [c for _, c, special in tokens if special and c not in ("<|endoftext|>", "<|im_end|>")]
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None, bos_token=None, eos_token="<|im_end|>",
                         pad_token="<|endoftext|>", extra_special_tokens=extra, model_max_length=32768,
                         errors="replace", clean_up_tokenization_spaces=False, split_special_tokens=False)
    tok.add_tokens([AddedToken(c, special=s, normalized=False) for _, c, s in tokens])
    tok.chat_template = chat_template(default_system=arch != "qwen3_vl")
    for i, content, _ in tokens:  # cheap insurance: a wrong id here breaks ms-swift silently
        assert tok.convert_tokens_to_ids(content) == i, (content, tok.convert_tokens_to_ids(content), i)
    return tok


def _config(arch: str):
    common_text = dict(
        vocab_size=VOCAB_SIZE, hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6,
        tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645, pad_token_id=151643,
        initializer_range=INIT_STD,
        # head_dim 16 -> 8 rotary frequencies, split over (temporal, height, width) like the real [16, 24, 24].
        # The real theta 1e6 leaves the width axis ~1e-4 rad per position here (it is the slowest third of the
        # spectrum): the model cannot tell left from right. theta 10 gives it 0.13-0.24 rad per position.
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA, "mrope_section": [2, 3, 3]})
    ids = dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
               vision_end_token_id=151653, tie_word_embeddings=True)
    if arch == "qwen3_vl":
        from transformers import Qwen3VLConfig

        text = {k: v for k, v in common_text.items() if k not in ("bos_token_id", "eos_token_id")}
        text.update(head_dim=16, rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                                  "mrope_section": [2, 3, 3], "mrope_interleaved": True})
        # num_position_embeddings must be a square (a learned grid, interpolated to each image's patch grid)
        vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=HIDDEN,
                      initializer_range=INIT_STD, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                      num_position_embeddings=256,
                      deepstack_visual_indexes=[0], in_channels=3)
        return Qwen3VLConfig(text_config=text, vision_config=vision, **ids)
    if arch == "qwen2_vl":
        from transformers import Qwen2VLConfig

        vision = dict(depth=2, embed_dim=32, hidden_size=HIDDEN, num_heads=2, mlp_ratio=2, patch_size=14,
                      initializer_range=INIT_STD,
                      spatial_merge_size=2, temporal_patch_size=2, in_channels=3)
        return Qwen2VLConfig(text_config=common_text, vision_config=vision, **ids)
    from transformers import Qwen2_5_VLConfig

    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=HIDDEN,
                  initializer_range=INIT_STD, patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                  fullatt_block_indexes=[1], tokens_per_second=2, in_channels=3)
    return Qwen2_5_VLConfig(text_config=common_text, vision_config=vision, **ids)


def build_processor(arch: str = "qwen2_vl", tokenizer=None):
    """The processor of the tiny model: tiny tokenizer + small-pixel image and video processors."""
    from transformers import Qwen2VLImageProcessor

    tokenizer = tokenizer or build_tokenizer(arch)
    patch, _, min_pixels, max_pixels = PIXELS[arch]
    geometry = dict(size={"shortest_edge": min_pixels, "longest_edge": max_pixels}, patch_size=patch,
                    temporal_patch_size=2, merge_size=2)
    if arch == "qwen3_vl":
        from transformers import Qwen3VLProcessor as cls
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor as video_cls

        geometry.update(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])  # as the real Qwen3-VL config
    else:
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor as video_cls

        if arch == "qwen2_vl":
            from transformers import Qwen2VLProcessor as cls
        else:
            from transformers import Qwen2_5_VLProcessor as cls
    image, video = Qwen2VLImageProcessor(**geometry), video_cls(**geometry)
    return cls(image_processor=image, tokenizer=tokenizer, video_processor=video,
               chat_template=tokenizer.chat_template)


def build_tiny_model(out: Union[str, os.PathLike], arch: str = "qwen2_vl", seed: int = 0,
                     overwrite: bool = False) -> Path:
    """Write a tiny random ``arch`` model (weights, configs, tokenizer, processor) to ``out`` and return it.

    Deterministic in (arch, seed); takes a few seconds on CPU. The directory is written next to ``out`` and
    renamed into place, so a failure leaves nothing behind. Raises BridgeError for an unknown ``arch`` or an
    existing non-empty ``out`` without ``overwrite``.
    """
    if arch not in ARCHS:
        raise BridgeError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHS)})")
    out = Path(out)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise BridgeError(f"{out}: already exists and is not empty (use --overwrite to replace it)")
    try:
        import torch
        from transformers import AutoModelForImageTextToText, GenerationConfig
    except ImportError as e:
        raise BridgeError(f"building a tiny model needs torch and transformers ({e})",
                          hint="install the model extra: pip install 'gui-bridge[model]' torch torchvision") from None

    tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        processor = build_processor(arch)
        config = _config(arch)
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
        model.generation_config = GenerationConfig(
            bos_token_id=151643, eos_token_id=[151645, 151643], pad_token_id=151643, do_sample=False)
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        # transformers 5.23 nests both sub-processors in processor_config.json; older 5.x releases (the ones
        # LLaMA-Factory, verl and ms-swift pin) look for the separate files, so write those too.
        processor.image_processor.save_pretrained(tmp)
        processor.video_processor.save_pretrained(tmp)
        _add_pixel_keys(tmp, *PIXELS[arch][2:])
        (tmp / "README.md").write_text(
            f"# tiny {arch} (random weights, seed {seed})\n\nBuilt offline by `bridge tiny-model` for tests and "
            f"smoke runs: it produces noise. Special tokens keep the real Qwen ids; vocab_size {VOCAB_SIZE}; "
            f"image processor min_pixels {PIXELS[arch][2]}, max_pixels {PIXELS[arch][3]} "
            f"(smart-resize factor {PIXELS[arch][1]}).\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _add_pixel_keys(model_dir: Path, min_pixels: int, max_pixels: int) -> None:
    """Also state the pixel bounds as ``min_pixels``/``max_pixels``: older readers (transformers < 5,
    qwen-vl-utils style code) look for those keys rather than ``size``."""
    for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
        path = model_dir / name
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            data.setdefault("min_pixels", min_pixels)
            data.setdefault("max_pixels", max_pixels)
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def cached_model(arch: str, echo: Callable[[str], None] = print, python: Optional[str] = None) -> Path:
    """The tiny ``arch`` model (seed 0) of this machine: built once, offline, into ``$BRIDGE_HOME/tiny/<arch>-seed0-v<N>``
    (where ``tiny:<arch>`` recipes, ``bridge check`` and the demo all look), then reused.

    ``python`` builds it with that interpreter (``bridge tiny-model`` in e.g. the TRL environment) instead of in
    this process, for a bridge installed without the model stack."""
    out = bridge_home() / "tiny" / cache_name(arch)
    if (out / "config.json").is_file():
        return out
    echo(f"building the tiny {arch} model (offline) -> {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if python is None:
        return build_tiny_model(out, arch=arch, seed=0, overwrite=True)   # written aside, renamed into place
    proc = subprocess.run([python, "-m", "bridge.cli", "tiny-model", str(out), "--arch", arch, "--seed", "0",
                           "--overwrite"], capture_output=True, text=True)
    if proc.returncode != 0 or not (out / "config.json").is_file():
        raise BridgeError(f"building the tiny model failed with {python}:\n"
                          + "\n".join(proc.stderr.strip().splitlines()[-10:]))
    return out
