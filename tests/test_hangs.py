"""Worst cases that used to hang (issue 11 item 8), each bounded: a server trickling a byte every 0.3 s against
``eval --endpoint --timeout 1`` and against the LLM judge (which also must not leak threads), a YAML alias bomb in
a recipe given to ``bridge run``, and se-gui on 64 KB of unclosed ``<tool_call>`` tags."""
import json
import random
import socket
import threading
import time

import pytest

from bridge.rewards.presets import se_gui

from test_paths import png, run, write_dataset


class Trickle:
    """A TCP server answering every connection with an HTTP header, then one body byte every 0.3 s, forever."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            while not self.stop.is_set():
                conn.sendall(b" ")
                time.sleep(0.3)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def trickle():
    t = Trickle()
    yield t
    t.close()


def test_eval_endpoint_request_has_a_hard_deadline(tmp_path, trickle, capsys):
    ds = write_dataset(tmp_path / "ds", "images/ok.png")
    png(ds / "images" / "ok.png")
    start = time.monotonic()
    code, out = run(["eval", ds, "--style", "qwen2vl", "--profile", "aitw", "--endpoint", trickle.url,
                     "--model-name", "m", "--timeout", "1", "--retries", "0", "--no-progress"], capsys)
    took = time.monotonic() - start
    assert code == 2 and "within 1s" in out, out
    assert took < 8, took   # GET /models (reachability) + one POST, 1 s each; was > 60 s


def test_judge_has_a_deadline_and_leaks_no_thread(trickle):
    from bridge.rewards.judge import ask

    before = threading.active_count()
    start = time.monotonic()
    for _ in range(3):
        with pytest.raises(RuntimeError, match="within 0.5s"):
            ask("p", endpoint=trickle.url, model="m", timeout=0.5, retries=1, backoff=0.01)
    assert time.monotonic() - start < 6
    time.sleep(0.2)
    assert threading.active_count() <= before   # was +2 per call


def test_yaml_alias_bomb_in_a_recipe_is_refused_fast(tmp_path, capsys):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    lines += ["name: bomb", "model: tiny:qwen2_vl", "data: {train: d, style: qwen2vl}",
              "backends: {trl: {overrides: {x: *a11}}}"]
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    code, out = run(["run", recipe, "--dry-run"], capsys)
    # located at the first anchor expanding past the limit (a5 = 9^6 values, line 6)
    assert code == 2 and "bomb.yaml:6: YAML aliases expand to more than 100,000 values" in out, out
    assert time.monotonic() - start < 5


def test_se_gui_is_linear_on_repeated_unclosed_tool_calls():
    for text in ("<tool_call>" * 6000, "<tool_call>{[1,2]" * 4000, "<tool_call>{" * 6000 + "[1, 2]}"):
        start = time.monotonic()
        se_gui.point_value(text, [0, 0, 10, 10, 100, 100])
        se_gui.format_reward(text)
        assert time.monotonic() - start < 0.2, len(text)   # 64 KB took 4.2 s


def test_se_gui_first_tool_call_equals_the_upstream_regex():
    rng = random.Random(0)
    atoms = ["<tool_call>", "</tool_call>", "{", "}", "[1, 2]", "x", "\n", "<tool_", "call>"]
    for _ in range(3000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 12)))
        m = se_gui.TOOL_CALL.search(text)
        assert se_gui.first_tool_call(text) == (m.group(1) if m else None), text


def test_vlm_r1_llm_answer_extraction_is_linear_and_equals_the_upstream_regex():
    from bridge.rewards.presets import vlm_r1

    start = time.monotonic()
    vlm_r1.llm_answers("<answer>" * 8192, "<answer>x</answer>")
    assert time.monotonic() - start < 0.2
    rng = random.Random(1)
    atoms = ["<answer>", "</answer>", "x", "\n", "<answer", "</answer", ">"]
    for _ in range(3000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 12)))
        assert vlm_r1.answers(text) == vlm_r1._ANSWER.findall(text), text
