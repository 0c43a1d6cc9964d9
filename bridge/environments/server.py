"""The environment over HTTP, for trainers that run in their own virtualenv (TRL, ms-swift, verl: none of them
has selenium or a browser): a pool serves episodes as JSON, and :class:`RemoteEnv` (standard library + PIL +
bridge.schema) is the same :class:`~.base.GuiEnv` on the trainer's side.

    POST /reset {"task": T, "seed": S}                -> {"episode": id, "obs": OBS, "info": {...}}
    POST /step  {"episode": id, "action": ACTION|null} -> {"obs": OBS, "reward": r, "terminated": b,
                                                           "truncated": b, "info": {...}}
    GET  /health                                      -> {"ok": true, "size": N, "free": n}

OBS = {"image": base64 PNG, "instruction": str, "width": w, "height": h, "meta": {task, seed, turn, fields}};
ACTION = a canonical action (``Action.compact()``). An episode holds one browser of the pool from reset to its
end (or ``IDLE_S`` without a request: its client is taken for dead); a reset waits (up to ``LEASE_WAIT_S``) for a
free one. Loopback only by default.
"""
from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from ..schema import Action
from .base import GuiEnv, Observation

LEASE_WAIT_S = 300.0
#: an episode without a request for this long is abandoned (its client died): its browser is reclaimed
IDLE_S = 600.0


def obs_json(obs: Observation) -> dict[str, Any]:
    buf = io.BytesIO()
    obs.image.save(buf, format="PNG")
    meta = {k: obs.meta[k] for k in ("task", "seed", "turn", "fields") if k in obs.meta}
    return {"image": base64.b64encode(buf.getvalue()).decode("ascii"), "instruction": obs.instruction,
            "width": obs.width, "height": obs.height, "meta": meta}


def obs_from_json(d: dict[str, Any]) -> Observation:
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(d["image"]))).convert("RGB")
    return Observation(image=image, instruction=d["instruction"], meta=dict(d.get("meta") or {}))


def _info(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool, type(None)))}


class EnvServer:
    """Serves the environments of ``pool`` (an :class:`~.rollout.EnvPool`) on ``host:port`` (0: any free port)."""

    def __init__(self, pool, host: str = "127.0.0.1", port: int = 0, idle_s: float = IDLE_S):
        self.pool, self.idle_s = pool, idle_s
        self.episodes: dict[str, GuiEnv] = {}
        self.active: dict[str, float] = {}   # episode -> last request (monotonic seconds)
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.steps = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):   # quiet: a trainer's log is busy enough
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/health":
                    self._send(200, {"ok": True, "size": server.pool.size, "free": server.pool.free,
                                     "steps": server.steps})
                else:
                    self._send(404, {"error": f"no such path {self.path}"})

            def do_POST(self):
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                    if self.path == "/reset":
                        self._send(200, server.reset(body.get("task"), body.get("seed")))
                    elif self.path == "/step":
                        self._send(200, server.step(body.get("episode"), body.get("action")))
                    else:
                        self._send(404, {"error": f"no such path {self.path}"})
                except Exception as e:   # reported to the client, which raises it; the server goes on
                    self._send(400, {"error": f"{type(e).__name__}: {e}"})

        try:
            self.httpd = ThreadingHTTPServer((host, port), Handler)
        except OSError as e:   # most often: the port is taken (another server, or one that has not exited yet)
            from ..errors import BridgeError

            raise BridgeError(f"cannot serve at {host}:{port}: {e.strerror or e}",
                              hint="choose another --port (0 picks a free one), or stop what listens there") from None
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread: Optional[threading.Thread] = None

    def reset(self, task: str, seed: Optional[int]) -> dict[str, Any]:
        import queue

        self.reclaim()
        try:
            env = self.pool.lease(timeout=LEASE_WAIT_S)
        except queue.Empty:
            raise RuntimeError(f"no free environment within {LEASE_WAIT_S:.0f} s") from None
        try:
            obs, info = env.reset(seed=seed, options={"task": task})
        except BaseException:
            self.pool.release(env)
            raise
        eid = str(next(self.ids))
        with self.lock:
            self.episodes[eid] = env
            self.active[eid] = time.monotonic()
        return {"episode": eid, "obs": obs_json(obs), "info": _info(info)}

    def step(self, eid: str, action: Optional[dict]) -> dict[str, Any]:
        with self.lock:
            env = self.episodes.get(eid)
            self.active[eid] = time.monotonic()
        if env is None:
            raise KeyError(f"no running episode {eid!r}")
        obs, reward, terminated, truncated, info = env.step(Action.model_validate(action) if action else None)
        with self.lock:
            self.steps += 1
            if terminated or truncated:
                self.episodes.pop(eid, None)
                self.active.pop(eid, None)
        if terminated or truncated:
            self.pool.release(env)
        return {"obs": obs_json(obs), "reward": reward, "terminated": terminated, "truncated": truncated,
                "info": _info(info)}

    def reclaim(self) -> None:
        """Episodes idle for ``idle_s`` (a client that died mid-episode) give their browser back."""
        now = time.monotonic()
        with self.lock:
            stale = [eid for eid, t in self.active.items() if now - t > self.idle_s]
            envs = [self.episodes.pop(eid) for eid in stale if eid in self.episodes]
            for eid in stale:
                self.active.pop(eid, None)
        for env in envs:
            self.pool.release(env)

    def start(self) -> "EnvServer":
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="env-server", daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "EnvServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def serving(env_name: str = "miniwob", size: int = 2, host: str = "127.0.0.1", port: int = 0, **options: Any):
    """``with serving("miniwob", 2, max_turns=3) as url:`` — a pool of ``size`` environments served at ``url``
    for as long as the block runs (around a trainer subprocess, say); browsers and server go with it."""
    from . import make_pool

    with make_pool(env_name, size=size, **options) as pool, EnvServer(pool, host, port) as server:
        yield server.url


def _post(url: str, body: dict, timeout: float) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise RuntimeError(f"{url}: {detail}") from None


class RemoteEnv(GuiEnv):
    """A :class:`GuiEnv` whose episodes run on an :class:`EnvServer` at ``url`` (``max_turns`` is the server's)."""

    def __init__(self, url: str, timeout: float = 600.0):
        super().__init__(max_turns=1 << 30)
        self.url, self.timeout = url.rstrip("/"), timeout
        self.episode: Optional[str] = None

    def _reset(self, seed, options):
        r = _post(self.url + "/reset", {"task": options.get("task"), "seed": seed}, self.timeout)
        self.episode = r["episode"]
        return obs_from_json(r["obs"]), r["info"]

    def step(self, action: Optional[Action]):
        r = _post(self.url + "/step", {"episode": self.episode, "action": action.compact() if action else None},
                  self.timeout)
        self.turn += 1
        self.done = r["terminated"] or r["truncated"]
        return obs_from_json(r["obs"]), r["reward"], r["terminated"], r["truncated"], r["info"]
