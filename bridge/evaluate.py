"""Producing completions to evaluate: a local transformers model (``--model``) or an OpenAI-compatible chat
endpoint such as vLLM (``--endpoint``). Both take the same jobs — one per step, the prompt messages the style
builds — and return ``{step id: completion}``; :func:`bridge.metrics.evaluate` then scores them.

Heavy imports (torch, transformers, PIL) happen inside the functions that need them.
"""
from __future__ import annotations

import base64
import http.client
import json
import mimetypes
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from .errors import BridgeError
from .metrics.aggregate import step_id


@dataclass
class Job:
    id: str                            # "<episode_id>/<step index>"
    messages: list[dict[str, Any]]     # neutral messages (bridge.styles.base)


def build_jobs(episodes: Iterable, style, image_root: str) -> list[Job]:
    """One job per step of ``episodes``, prompts rendered by ``style`` with absolute image paths."""
    jobs = []
    for ep in episodes:
        for pos, st in enumerate(ep.steps):
            jobs.append(Job(step_id(ep.episode_id, st.index), style.messages(ep, pos, image_root)))
    return jobs


def check_images(jobs: list[Job], policy=None) -> None:
    """Every image a prompt shows is allowed by the dataset's path ``policy`` (:class:`bridge.paths.ImagePolicy`,
    when given), exists and is an image within the pixel limit (header only) — checked before any generation or
    upload, every problem listed: nothing but a dataset's own screenshots ever leaves the machine."""
    from .errors import Problem
    from .images import ImageError, header

    problems, seen = [], set()
    for j in jobs:
        for path in _images(j.messages):
            if path in seen:
                continue
            seen.add(path)
            why = policy.problem(path) if policy is not None else None
            if why:
                problems.append(Problem(path, f"image path refused: {why}", record=j.id,
                                        expected="an image inside the dataset or its image root"))
                continue
            try:
                header(path)
            except ImageError as e:
                problems.append(Problem(path, "image does not exist" if e.message == "file not found" else
                                        f"not a usable image: {e.message}", record=j.id))
    if problems:
        raise BridgeError(f"{len(problems)} image(s) of the prompts are refused, missing or not images",
                          problems[:50], hint="run `bridge validate DATASET` to check the dataset's images")


def _progress(total: int, desc: str, enabled: bool):
    from .progress import bar

    return bar(total, desc, "step", enabled)   # quiet when stderr is not a terminal


def _images(messages: list[dict[str, Any]]) -> list[str]:
    return [b["image"] for m in messages for b in m["content"] if b.get("type") == "image"]


# ------------------------------------------------------------------------------------------------- local model
def processor_pixels(processor) -> tuple[Optional[int], Optional[int]]:
    """(min_pixels, max_pixels) a Qwen-VL processor resizes with — what a smart-resized style frame must use."""
    ip = getattr(processor, "image_processor", processor)
    size = getattr(ip, "size", None)

    def get(key):   # transformers 5 keeps them in a SizeDict (attributes), older versions in a dict or on ip
        value = getattr(ip, key, None)
        if value is None and size is not None:
            value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
        return value

    lo = get("min_pixels") or get("shortest_edge")
    hi = get("max_pixels") or get("longest_edge")
    return (int(lo) if lo else None), (int(hi) if hi else None)


def load_processor(model_dir) -> Any:
    """The model directory's processor; a local directory only (never a hub id: nothing is downloaded)."""
    if not Path(model_dir).is_dir():
        raise BridgeError(f"{model_dir}: not a model directory",
                          hint="--model takes a local directory; serve hub models with vLLM and use --endpoint")
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(str(model_dir))
    except (OSError, ValueError) as e:
        raise BridgeError(f"{model_dir}: cannot load a processor: {str(e).splitlines()[0]}",
                          hint="--model takes a local model directory (config.json, weights, tokenizer, "
                               "preprocessor_config.json)") from None


def load_model(model_dir, device: str = "auto") -> tuple[Any, str]:
    """(model in eval mode on its device, that device) for an image-text-to-text model directory."""
    import torch
    from transformers import AutoModelForImageTextToText

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            str(model_dir), dtype=torch.float32 if device == "cpu" else "auto")
    except (OSError, ValueError) as e:
        raise BridgeError(f"{model_dir}: cannot load an image-text-to-text model: {str(e).splitlines()[0]}") from None
    return model.to(device).eval(), device


def generate_batch(model, processor, prompts: list[list[dict[str, Any]]], *, max_new_tokens: int = 256,
                   temperature: float = 0.0) -> list[str]:
    """Completions of neutral-form prompts (the style's messages, image blocks as file paths), batched with left
    padding through the processor's chat template: greedy, or sampled from the whole vocabulary at
    ``temperature`` > 0 (top_k 0 and top_p 1 explicitly: the model's generation_config may hold others)."""
    import torch
    from PIL import Image

    tok = getattr(processor, "tokenizer", processor)
    tok.padding_side = "left"   # decoder-only batched generation continues from the right edge
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    texts = [processor.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in prompts]
    images = []
    for m in prompts:
        for p in _images(m):
            with Image.open(p) as im:
                images.append(im.convert("RGB"))
    inputs = processor(text=texts, images=images or None, padding=True, return_tensors="pt").to(model.device)
    with torch.inference_mode():
        sampling = ({"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature > 0
                    else {"do_sample": False})
        gen = model.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=pad_id, **sampling)
    return processor.batch_decode(gen[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def generate_with_model(model_dir, jobs: list[Job], *, processor=None, batch_size: int = 4,
                        max_new_tokens: int = 256, device: str = "auto", progress: bool = True) -> dict[str, str]:
    """Greedy ``generate`` with transformers on CPU or GPU, ``batch_size`` prompts at a time (left padding).
    Prompts are the style's messages through the processor's chat template; returns ``{id: completion}``."""
    check_images(jobs)
    processor = processor or load_processor(model_dir)
    model, device = load_model(model_dir, device)
    out: dict[str, str] = {}
    with _progress(len(jobs), "generate", progress) as bar:
        for start in range(0, len(jobs), batch_size):
            batch = jobs[start:start + batch_size]
            texts = generate_batch(model, processor, [j.messages for j in batch], max_new_tokens=max_new_tokens)
            out.update(zip((j.id for j in batch), texts))
            bar.update(len(batch))
    return out


# ---------------------------------------------------------------------------------------------- OpenAI endpoint
def endpoint_urls(url: str) -> tuple[str, str]:
    """(base, chat URL) from what a user gives: ``http://h:8000``, ``…/v1`` or ``…/v1/chat/completions``."""
    u = url.rstrip("/")
    if u.endswith("/chat/completions"):
        return u[: -len("/chat/completions")], u
    if not u.endswith("/v1"):
        u += "/v1"
    return u, u + "/chat/completions"


#: Leading bytes of the image formats bridge.images reads (PNG, JPEG, GIF, BMP, RIFF/WebP).
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8", b"GIF8", b"BM", b"RIFF")


def _data_url(path: str, cache: dict[str, str]) -> str:
    if path not in cache:
        mime = mimetypes.guess_type(path)[0] or "image/png"
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise BridgeError(f"{path}: cannot read image: {e.strerror or e}") from None
        if not data.startswith(_IMAGE_MAGIC):  # the file changed since check_images(): never upload a non-image
            raise BridgeError(f"{path}: not an image file (refused to upload it)")
        cache[path] = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    return cache[path]


def openai_messages(messages: list[dict[str, Any]], cache: Optional[dict[str, str]] = None) -> list[dict[str, Any]]:
    """Neutral messages → OpenAI chat messages; images become base64 ``data:`` URLs (the original file bytes,
    so the server's own processor does the resize, exactly as for a local model)."""
    cache = {} if cache is None else cache
    out = []
    for m in messages:
        parts = []
        for b in m["content"]:
            if b.get("type") == "image":
                parts.append({"type": "image_url", "image_url": {"url": _data_url(b["image"], cache)}})
            else:
                parts.append({"type": "text", "text": b["text"]})
        out.append({"role": m["role"], "content": parts})
    return out


class _Fatal(Exception):
    """A request that failed for good: a 4xx other than 408/429, a bad response, or transient errors (connection,
    time-out, 408/429/5xx) that outlived the retries (``transient=True``)."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def _request(url: str, body: Optional[dict], api_key: Optional[str], timeout: float) -> Any:
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    from .deadline import request
    from .textio import safe_json_loads

    body = request(url, req.data, dict(req.header_items()), timeout, req.get_method())  # hard deadline
    return safe_json_loads(body)  # ValueError (not a RecursionError) for a reply nested 100k deep


def _with_retries(fn, retries: int, backoff: float):
    """Call ``fn``; retry connection errors, time-outs, 408/429/5xx with exponential back-off."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode("utf-8", "replace")
            err = f"HTTP {e.code}: {detail or e.reason}"
            if e.code not in (408, 429) and e.code < 500:
                raise _Fatal(err) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:   # refused, reset, time-out, ...
            err = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
        except ValueError as e:  # not JSON, not UTF-8, nested too deep, too large
            err = f"response is not usable JSON: {e}"
        if attempt < retries:
            time.sleep(min(backoff * 2 ** attempt, 30.0))
    raise _Fatal(err, transient=True)


def _content(resp: Any) -> str:
    try:
        content = resp["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _Fatal(f"unexpected response shape: {json.dumps(resp)[:200]}") from None
    if isinstance(content, list):   # some servers return typed parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise _Fatal("response message has no text content")
    return content


def resolve_model_name(url: str, api_key: Optional[str] = None, timeout: float = 10.0) -> str:
    """The first model an endpoint serves (``GET /v1/models``), for when ``--model-name`` is not given."""
    base, _ = endpoint_urls(url)
    try:
        resp = _with_retries(lambda: _request(base + "/models", None, api_key, timeout), 1, 0.5)
        return str(resp["data"][0]["id"])
    except (_Fatal, KeyError, IndexError, TypeError) as e:
        raise BridgeError(f"{url}: cannot list the served models ({e})",
                          hint="pass --model-name NAME (the name the server serves the model under)") from None


def check_reachable(url: str, api_key: Optional[str] = None, timeout: float = 10.0) -> None:
    """Fail fast (one GET of ``/models``) when nothing answers at ``url``; any HTTP answer, even 404, will do."""
    base, _ = endpoint_urls(url)
    try:
        _request(base + "/models", None, api_key, timeout)
    except urllib.error.HTTPError:
        pass
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise BridgeError(f"{url}: cannot reach the endpoint: {getattr(e, 'reason', e)}") from None
    except ValueError:  # any answer will do
        pass


def chat_completion(chat_url: str, messages: list[dict[str, Any]], *, model_name: str, max_new_tokens: int = 256,
                    timeout: float = 120.0, retries: int = 2, backoff: float = 0.5,
                    api_key: Optional[str] = None, temperature: float = 0.0) -> str:
    """One chat completion of a neutral-form prompt (greedy: temperature 0 by default); raises ``_Fatal`` on
    failure."""
    # bodies are built per request (base64 screenshots of a whole dataset would not fit in memory)
    body = {"model": model_name, "messages": openai_messages(messages), "max_tokens": max_new_tokens,
            "temperature": temperature}
    return _content(_with_retries(lambda: _request(chat_url, body, api_key, timeout), retries, backoff))


def generate_with_endpoint(url: str, jobs: list[Job], *, model_name: str, concurrency: int = 4,
                           max_new_tokens: int = 256, timeout: float = 120.0, retries: int = 2,
                           backoff: float = 0.5, api_key: Optional[str] = None, progress: bool = True,
                           max_consecutive_failures: int = 20) -> tuple[dict[str, str], dict[str, str]]:
    """Greedy (temperature 0) chat completions, ``concurrency`` requests in flight, each bounded by ``timeout``
    seconds and retried ``retries`` times on transient errors. Returns ``(completions, failures)``, both keyed by
    step id; failures carry the last error. Raises :class:`BridgeError` when nothing answers at ``url``, when
    every request failed, or after ``max_consecutive_failures`` transient failures in a row (a server that
    went away mid-run is not waited for request by request)."""
    _, chat_url = endpoint_urls(url)
    check_images(jobs)
    check_reachable(url, api_key, min(timeout, 10.0))

    def one(job: Job) -> str:
        return chat_completion(chat_url, job.messages, model_name=model_name, max_new_tokens=max_new_tokens,
                               timeout=timeout, retries=retries, backoff=backoff, api_key=api_key)

    done: dict[str, str] = {}
    failed: dict[str, str] = {}
    streak = 0
    with _progress(len(jobs), "requests", progress) as bar, ThreadPoolExecutor(max(1, concurrency)) as pool:
        futures = {pool.submit(one, j): j.id for j in jobs}
        for fut in as_completed(futures):
            jid = futures[fut]
            try:
                done[jid] = fut.result()
                streak = 0
            except _Fatal as e:
                failed[jid] = str(e)
                streak = streak + 1 if e.transient else 0
            bar.update(1)
            if streak >= max_consecutive_failures:
                for f in futures:
                    f.cancel()
                raise BridgeError(f"{chat_url}: {streak} requests in a row failed after {len(done)} answers; "
                                  f"giving up. Last error: {failed[jid]}")
    if jobs and not done:
        first = next(iter(failed.values()))
        raise BridgeError(f"{chat_url}: all {len(jobs)} requests failed; first error: {first}",
                          hint="check the URL, --model-name and that the server accepts image inputs")
    return done, failed
