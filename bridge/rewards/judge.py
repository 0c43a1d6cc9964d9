"""``llm-judge``: ask an OpenAI-compatible endpoint (``POST …/v1/chat/completions``, e.g. vLLM) to grade a
completion against the ground truth, as the seed tutorials' ``reward_method llm`` does.

Bounded and predictable:

* every HTTP attempt has a hard deadline (``timeout`` seconds, enforced even against a server that trickles
  bytes), at most ``1 + retries`` attempts, with exponential backoff (``backoff · 2^k``) on connection
  errors, time-outs, HTTP 429 and 5xx; other HTTP errors are not retried;
* answers are cached by (model, prompt) in memory and, with ``cache_dir``, on disk (one small JSON file per
  key, written atomically), so identical completions in a GRPO group cost one request;
* on failure the reward is ``on_failure`` (default 0.0) and a warning says why — it never raises, never hangs.

The judge replies with a number in [0, 1] (the first number in its reply is used, clamped).
Endpoint and model come from the options or ``BRIDGE_JUDGE_URL`` / ``BRIDGE_JUDGE_MODEL``; an API key, when
needed, from the environment variable named by ``api_key_env``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import urllib.error
from typing import Optional

from .base import log, register

SYSTEM = ("You grade the actions of a GUI agent. Compare the agent's output with the reference action and reply "
          "with a single number between 0 and 1: 1 when the output performs the same action on the same target "
          "(same type, a point on the same element, equivalent text), 0 when it does not, values between for "
          "partially correct outputs. Reply with the number only.")

_memory: dict[str, float] = {}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def chat_url(endpoint: str) -> str:
    e = endpoint.rstrip("/")
    if e.endswith("/chat/completions"):
        return e
    return e + ("/chat/completions" if e.endswith("/v1") else "/v1/chat/completions")


def build_prompt(completion: str, gt) -> str:
    mw, mh = gt.frame.model_size(gt.width, gt.height)
    return (f"Screen: {gt.width}x{gt.height} pixels. The agent writes coordinates in the '{gt.frame.kind}' frame "
            f"({mw:g}x{mh:g}); the reference is in screen pixels.\n"
            f"Reference action (JSON): {json.dumps(gt.action.compact(), ensure_ascii=False, sort_keys=True)}\n"
            f"Agent output ({gt.style} format):\n{completion}\n\nScore:")


def _key(model: str, prompt: str) -> str:
    return hashlib.sha256(f"{model}\0{prompt}".encode("utf-8")).hexdigest()


def _cache_get(key: str, cache_dir: Optional[str]) -> Optional[float]:
    if key in _memory:
        return _memory[key]
    if cache_dir:
        try:
            with open(os.path.join(cache_dir, key[:2], key + ".json"), encoding="utf-8") as fh:
                value = float(json.load(fh)["score"])
            _memory[key] = value
            return value
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return None


def _cache_put(key: str, value: float, cache_dir: Optional[str]) -> None:
    _memory[key] = value
    if not cache_dir:
        return
    try:
        d = os.path.join(cache_dir, key[:2])
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"score": value}, fh)
        os.replace(tmp, os.path.join(d, key + ".json"))
    except OSError as e:  # a read-only cache must not fail the reward
        log.warning("llm-judge: cannot write cache in %s: %s", cache_dir, e)


class _Retryable(Exception):
    pass


def _post(url: str, body: bytes, headers: dict, timeout: float) -> dict:
    """One request with a hard wall-clock deadline (urllib's timeout is per socket operation only), in this
    thread: nothing is left running after it returns (bridge/deadline.py)."""
    from ..deadline import DeadlineExceeded, request
    from ..textio import safe_json_loads

    try:
        return safe_json_loads(request(url, body, headers, timeout, "POST"))
    except DeadlineExceeded as e:
        raise _Retryable(str(e)) from None
    except urllib.error.HTTPError as err:
        if err.code == 429 or err.code >= 500:
            raise _Retryable(f"HTTP {err.code}") from None
        raise RuntimeError(f"HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise _Retryable(str(getattr(err, "reason", err))) from None
    except Exception as err:
        raise RuntimeError(f"{type(err).__name__}: {err}") from None


def ask(prompt: str, *, endpoint: str, model: str, api_key: Optional[str] = None, timeout: float = 10.0,
        retries: int = 2, backoff: float = 0.5, temperature: float = 0.0, max_tokens: int = 16) -> float:
    """Send one grading request and return the score in [0, 1]; raises RuntimeError after the last attempt."""
    text = ask_messages([{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
                        endpoint=endpoint, model=model, api_key=api_key, timeout=timeout, retries=retries,
                        backoff=backoff, temperature=temperature, max_tokens=max_tokens)
    m = _NUMBER.search(text or "")
    if not m:
        raise RuntimeError(f"no score in the judge's reply {str(text)[:100]!r}")
    return min(1.0, max(0.0, float(m.group())))


def ask_messages(messages: list, *, endpoint: str, model: str, api_key: Optional[str] = None,
                 timeout: float = 10.0, retries: int = 2, backoff: float = 0.5, temperature: float = 0.0,
                 max_tokens: Optional[int] = None) -> str:
    """POST ``messages`` to the chat endpoint and return the reply text; RuntimeError after the last attempt."""
    payload = {"model": model, "temperature": temperature, "messages": messages}
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    body = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    url, last = chat_url(endpoint), "no attempt"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            data = _post(url, body, headers, timeout)
        except _Retryable as e:
            last = str(e)
            continue
        try:
            return data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise RuntimeError(f"unexpected response shape: {str(data)[:200]}") from None
    raise RuntimeError(f"gave up after {retries + 1} attempt(s): {last}")


@register("llm-judge", "asks an OpenAI-compatible endpoint to grade the completion against the ground truth "
          "(0..1); time-outs, retries, cache; on_failure score + warning on failure", kind="preset",
          options={"endpoint": None, "model": None, "api_key_env": "BRIDGE_JUDGE_API_KEY", "timeout": 10.0,
                   "retries": 2, "backoff": 0.5, "cache_dir": None, "on_failure": 0.0, "temperature": 0.0,
                   "max_tokens": 16})
def llm_judge(completion: str, gt, endpoint: Optional[str] = None, model: Optional[str] = None,
              api_key_env: str = "BRIDGE_JUDGE_API_KEY", timeout: float = 10.0, retries: int = 2,
              backoff: float = 0.5, cache_dir: Optional[str] = None, on_failure: float = 0.0,
              temperature: float = 0.0, max_tokens: int = 16) -> float:
    endpoint = endpoint or os.environ.get("BRIDGE_JUDGE_URL")
    model = model or os.environ.get("BRIDGE_JUDGE_MODEL")
    if not endpoint or not model:
        log.warning("llm-judge: no endpoint/model (options endpoint, model or BRIDGE_JUDGE_URL, "
                    "BRIDGE_JUDGE_MODEL); scored %s", on_failure)
        return float(on_failure)
    prompt = build_prompt(completion, gt)
    key = _key(model, prompt)
    cached = _cache_get(key, cache_dir)
    if cached is not None:
        return cached
    try:
        value = ask(prompt, endpoint=endpoint, model=model, api_key=os.environ.get(api_key_env) or None,
                    timeout=timeout, retries=retries, backoff=backoff, temperature=temperature,
                    max_tokens=max_tokens)
    except RuntimeError as e:
        log.warning("llm-judge: %s (%s); scored %s", e, chat_url(endpoint), on_failure)
        return float(on_failure)
    _cache_put(key, value, cache_dir)
    return value
