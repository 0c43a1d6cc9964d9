"""llm-judge against a tiny OpenAI-compatible server on 127.0.0.1 started in the test."""
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bridge.frames import Frame
from bridge.groundtruth import GroundTruth
from bridge.rewards import get_reward, judge
from bridge.schema import Action

GT = GroundTruth(action=Action(type="click", point=(500.0, 1000.0)), width=1000, height=2000, style="qwen2vl",
                 frame=Frame("rel1000"))


class Server:
    """Replies scripted per request: ("ok", text) | ("status", code) | ("sleep", seconds) | ("raw", bytes)."""

    def __init__(self):
        self.script, self.requests = [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, body, self.headers.get("Authorization")))
                kind, arg = outer.script.pop(0) if outer.script else ("ok", "1")
                if kind == "status":
                    self.send_response(arg)
                    self.end_headers()
                    return
                if kind == "sleep":
                    time.sleep(arg)
                    kind, arg = "ok", "1"
                data = arg if kind == "raw" else json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": arg}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):   # the client gave up (deadline test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    judge._memory.clear()
    yield s
    s.close()
    judge._memory.clear()


def grade(completion, **options):
    return get_reward("llm-judge")(completion, GT, **options)["score"]


def test_scores_and_caches_by_model_and_prompt(server, tmp_path, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-test")
    server.script = [("ok", "Score: 0.75"), ("ok", "7")]
    opts = dict(endpoint=server.url, model="m", cache_dir=str(tmp_path), api_key_env="JUDGE_KEY")
    assert grade("click(500, 500)", **opts) == 0.75
    assert grade("click(500, 500)", **opts) == 0.75            # memory cache: no second request
    assert len(server.requests) == 1
    path, body, auth = server.requests[0]
    assert path == "/v1/chat/completions" and body["model"] == "m" and auth == "Bearer sk-test"
    assert "click(500, 500)" in body["messages"][1]["content"] and '"point": [500.0, 1000.0]' in body["messages"][1]["content"]
    judge._memory.clear()
    assert grade("click(500, 500)", **opts) == 0.75            # disk cache survives the process-level cache
    assert len(server.requests) == 1
    assert grade("click(1, 1)", **opts) == 1.0                 # "7" clamped to 1
    assert grade("click(1, 1)", **{**opts, "model": "other"}) == 1.0
    assert len(server.requests) == 3                           # the model is part of the key


def test_retries_server_errors_with_backoff(server):
    server.script = [("status", 503), ("status", 429), ("ok", "0.5")]
    assert grade("x", endpoint=server.url + "/v1", model="m", backoff=0.01) == 0.5
    assert len(server.requests) == 3


def test_failure_modes_are_bounded_and_logged(server, caplog):
    caplog.set_level(logging.WARNING, logger="bridge.rewards")
    server.script = [("status", 500)] * 3
    assert grade("a", endpoint=server.url, model="m", retries=2, backoff=0.01, on_failure=-1.0) == -1.0
    assert "gave up after 3 attempt(s): HTTP 500" in caplog.text
    server.script = [("status", 400)]
    assert grade("b", endpoint=server.url, model="m", backoff=0.01) == 0.0
    assert len(server.requests) == 4                          # a 4xx is not retried
    server.script = [("ok", "no idea")]
    assert grade("c", endpoint=server.url, model="m") == 0.0 and "no score" in caplog.text
    server.script = [("raw", b"not json")]
    assert grade("d", endpoint=server.url, model="m") == 0.0
    server.script = [("sleep", 1.2), ("sleep", 1.2)]
    t0 = time.perf_counter()
    assert grade("e", endpoint=server.url, model="m", timeout=0.3, retries=1, backoff=0.01) == 0.0
    assert time.perf_counter() - t0 < 1.1                     # two 0.3 s deadlines, never the 1.2 s replies
    assert "no complete answer within 0.3s" in caplog.text
    assert grade("f", endpoint="http://127.0.0.1:9", model="m", retries=0, timeout=1) == 0.0   # refused
    assert grade("g") == 0.0 and "no endpoint/model" in caplog.text
