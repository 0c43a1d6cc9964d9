"""`bridge eval`: predictions files (hand-computed metrics per profile), a local OpenAI-compatible server on
loopback, and the tiny Qwen2-VL model."""
from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.dataset import open_dataset
from bridge.errors import BridgeError
from bridge.evaluate import Job, endpoint_urls, generate_with_endpoint, openai_messages
from bridge.metrics import PROFILES
from bridge.metrics.predictions import read_predictions, write_predictions
from bridge.schema import Action, Episode, Step


def run_cli(argv, capsys):
    """Run ``bridge`` in-process; returns (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------------------------------- predictions files
def test_read_predictions_reports_every_bad_line(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text("\n".join([
        '{"id": "a/0", "completion": "x"}',
        "{not json",
        '["a list"]',
        '{"id": "a/1"}',
        '{"id": 7, "completion": "x"}',
        '{"id": "a/0", "completion": "again"}',
        "",
        '{"id": "a/2", "completion": "ok", "extra": 1}',
    ]) + "\n")
    with pytest.raises(BridgeError) as ei:
        read_predictions(p)
    probs = ei.value.problems
    assert [(q.line, q.field) for q in probs] == [(2, None), (3, None), (4, "completion"), (5, "id"), (6, "id")]
    assert "duplicate id (first on line 1)" in probs[-1].message
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "a/0", "completion": "x"}\n\n{"id": "a/2", "completion": "ok", "extra": 1}\n')
    assert read_predictions(good) == {"a/0": "x", "a/2": "ok"}
    with pytest.raises(BridgeError, match="cannot read predictions file"):
        read_predictions(tmp_path / "nope.jsonl")


def test_write_predictions_is_atomic(tmp_path):
    p = tmp_path / "out.jsonl"
    assert write_predictions(p, [("a/0", "é\n"), ("a/1", "")]) == 2
    assert read_predictions(p) == {"a/0": "é\n", "a/1": ""}

    def boom():
        yield ("a/0", "x")
        raise RuntimeError("generation died")

    with pytest.raises(RuntimeError):
        write_predictions(tmp_path / "half.jsonl", boom())
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.jsonl"]   # nothing partial left behind


def test_profile_names_in_the_cli_match_the_registry():
    from bridge.commands.eval_ import PROFILE_NAMES

    assert PROFILE_NAMES == tuple(PROFILES)


def test_endpoint_urls():
    assert endpoint_urls("http://h:8000") == ("http://h:8000/v1", "http://h:8000/v1/chat/completions")
    assert endpoint_urls("http://h:8000/v1/") == ("http://h:8000/v1", "http://h:8000/v1/chat/completions")
    assert endpoint_urls("http://h/x/v1/chat/completions") == ("http://h/x/v1", "http://h/x/v1/chat/completions")


def test_openai_messages_send_original_bytes_as_data_urls(tmp_path):
    img = tmp_path / "s.png"
    img.write_bytes(b"\x89PNG fake bytes")
    msgs = [{"role": "system", "content": [{"type": "text", "text": "sys"}]},
            {"role": "user", "content": [{"type": "text", "text": "look "}, {"type": "image", "image": str(img)}]}]
    out = openai_messages(msgs)
    assert out[0] == {"role": "system", "content": [{"type": "text", "text": "sys"}]}
    url = out[1]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == b"\x89PNG fake bytes"


# ------------------------------------------------------------------------------------- a fake OpenAI server
class FakeOpenAI:
    """A minimal OpenAI chat server on 127.0.0.1 that answers by :func:`request_key` — the decoded bytes of the
    LAST image (the current screenshot) plus every text part: ``answers[key] = text``; ``flaky`` keys get one
    503 first; ``broken`` keys always get a 400."""

    def __init__(self, answers, flaky=(), broken=(), model="tiny-served"):
        self.answers, self.flaky, self.broken, self.model = answers, set(flaky), set(broken), model
        self.flaky_forever = False
        self.requests = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    return self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                self._send(404, {"error": "no route"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions" or body.get("model") != server.model:
                    return self._send(400, {"error": "bad model or route"})
                parts = [p for m in body["messages"] for p in m["content"]]
                urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
                sha = request_key(base64.b64decode(urls[-1].split(",", 1)[1]),
                                  [p["text"] for p in parts if p["type"] == "text"])
                with server.lock:
                    server.requests.append((sha, body))
                    first = sha in server.flaky
                    if not server.flaky_forever:
                        server.flaky.discard(sha)
                if first:
                    return self._send(503, {"error": "warming up"})
                if sha in server.broken:
                    return self._send(400, {"error": "cannot process this image"})
                self._send(200, {"id": "x", "object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": server.answers[sha]},
                     "finish_reason": "stop"}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def request_key(image: bytes, texts) -> str:
    return hashlib.sha256(image + "\x00".join(texts).encode()).hexdigest()


def job_key(messages) -> str:
    """The key of a job's neutral messages, computed independently of the runner's conversion."""
    blocks = [b for m in messages for b in m["content"]]
    image = [b["image"] for b in blocks if b["type"] == "image"][-1]
    return request_key(Path(image).read_bytes(), [b["text"] for b in blocks if b["type"] == "text"])


def tiny_png(path, i: int) -> None:
    """A distinct small PNG per ``i``."""
    from PIL import Image

    Image.new("RGB", (4, 4), (i % 256, i // 256, 7)).save(path)


def _msg(text, image):
    return [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "image", "image": str(image)}]}]


def test_generate_with_endpoint_retries_transient_errors_and_reports_failures(tmp_path):
    imgs = []
    for i in range(4):
        p = tmp_path / f"{i}.png"
        tiny_png(p, i)  # real images: only images are ever uploaded
        imgs.append(p)
    jobs = [Job(f"e/{i}", _msg("go", p)) for i, p in enumerate(imgs)]
    keys = [job_key(j.messages) for j in jobs]
    answers = {k: f"answer {i}" for i, k in enumerate(keys)}
    with FakeOpenAI(answers, flaky=[keys[1]], broken=[keys[2]]) as srv:
        done, failed = generate_with_endpoint(srv.url, jobs, model_name="tiny-served", concurrency=2,
                                              retries=2, backoff=0.01, progress=False)
        assert done == {"e/0": "answer 0", "e/1": "answer 1", "e/3": "answer 3"}
        assert list(failed) == ["e/2"] and failed["e/2"].startswith("HTTP 400")
        assert len(srv.requests) == 5          # one retry of the 503, no retry of the 400
        assert srv.requests[0][1]["temperature"] == 0.0 and srv.requests[0][1]["max_tokens"] == 256
        with pytest.raises(BridgeError, match="all 1 requests failed"):
            generate_with_endpoint(srv.url, jobs[2:3], model_name="tiny-served", retries=0, progress=False)


def test_generate_with_endpoint_gives_up_on_an_unreachable_server(tmp_path):
    p = tmp_path / "a.png"
    tiny_png(p, 0)
    with FakeOpenAI({}) as srv:
        url = srv.url
    jobs = [Job("e/0", _msg("go", p))]
    with pytest.raises(BridgeError, match="cannot reach the endpoint"):
        generate_with_endpoint(url, jobs, model_name="m", retries=1, backoff=0.01, timeout=2, progress=False)


def test_missing_images_are_reported_before_any_request(tmp_path):
    jobs = [Job("e/0", _msg("go", tmp_path / "gone.png")), Job("e/1", _msg("go", tmp_path / "gone2.png"))]
    with pytest.raises(BridgeError, match="2 image") as ei:
        generate_with_endpoint("http://127.0.0.1:9", jobs, model_name="m", progress=False)
    assert [(p.record, Path(p.file).name) for p in ei.value.problems] == [("e/0", "gone.png"), ("e/1", "gone2.png")]


def test_generate_with_endpoint_stops_after_consecutive_transient_failures(tmp_path):
    imgs = [tmp_path / f"{i}.png" for i in range(30)]
    for i, p in enumerate(imgs):
        tiny_png(p, i)  # real images: only images are ever uploaded
    jobs = [Job(f"e/{i}", _msg("go", p)) for i, p in enumerate(imgs)]
    answers = {job_key(j.messages): "ok" for j in jobs}
    # every request after the first gets a 503 forever (flaky is one-shot, so mark them all broken by status)
    with FakeOpenAI(answers, flaky=[job_key(j.messages) for j in jobs[1:]]) as srv:
        srv.flaky_forever = True
        with pytest.raises(BridgeError, match=r"3 requests in a row failed after 1 answers"):
            generate_with_endpoint(srv.url, jobs, model_name="tiny-served", concurrency=1, retries=0,
                                   max_consecutive_failures=3, progress=False)
        assert len(srv.requests) < 10


# ---------------------------------------------------------------------------- hand-written dataset + CLI
W, H = 1000, 2000
TALL = (450.0, 600.0, 550.0, 1400.0)


def _write_dataset(root: Path) -> Path:
    def st(i, **a):
        return Step(index=i, screenshot=f"images/{i}.png", width=W, height=H, action=Action(**a))

    eps = [
        Episode(episode_id="e1", instruction="g", steps=[
            st(0, type="click", point=(500, 1000), bbox=TALL), st(1, type="type", text="Hello World"),
            st(2, type="status", status="complete")]),
        Episode(episode_id="e2", instruction="g", steps=[
            st(0, type="swipe", point=(500, 1500), direction="up"), st(1, type="click", point=(500, 1000)),
            st(2, type="navigate_back")]),
        Episode(episode_id="e3", instruction="g", steps=[
            st(0, type="click", point=(500, 1000), bbox=TALL), st(1, type="status", status="impossible")]),
        Episode(episode_id="e4", instruction="g", steps=[st(0, type="navigate_home")]),
    ]
    root.mkdir()
    (root / "episodes.jsonl").write_text("".join(e.to_json_line() + "\n" for e in eps))
    (root / "manifest.json").write_text(json.dumps({"format": "gui-bridge/dataset", "version": 1,
                                                    "episodes": 4, "steps": 9}))
    return root


# AgentCPM-style completions ([0,1000] of a 1000x2000 screen: y_px = 2*y)
PREDICTIONS = {
    "e1/0": '{"POINT":[500,950]}',            # (500,1900): y 0.95 — only inside AITW's 2.4x box
    "e1/1": '{"TYPE":"hello"}',               # substring yes; token-F1 2/3; ANLS 0.36 (case-sensitive)
    "e1/2": '{"STATUS":"impossible"}',        # GT complete
    "e2/0": '{"POINT":[500,250],"to":"down"}',  # GT up: same axis, wrong direction
    "e2/1": '{"POINT":[500,535]}',            # 70 px / 0.035 below the GT point, no box
    "e2/2": '{"PRESS":"HOME"}',               # GT back
    "e3/0": '{"POINT":[500,730]}',            # (500,1460): y 0.73 — inside 1.2x of the box, 0.23 away
    # e3/1 missing
    "e4/0": "not json at all",                # parse failure
    "e9/0": '{"PRESS":"HOME"}',               # no such step
}

#: profile -> (type_match, success, grounded of 3, episode successes, goal progress), by hand (see the comments
#: above; goal progress = mean over the 4 episodes of leading right steps / steps).
EXPECTED = {
    "aitw": (5, 5, 3, 0, (2 / 3 + 2 / 3 + 1 / 2 + 0) / 4),
    "androidcontrol": (7, 3, 2, 0, (0 + 0 + 1 / 2 + 0) / 4),
    "agentcpm": (7, 4, 2, 0, (0 + 0 + 1 / 2 + 0) / 4),
    "agentcpm-ac": (7, 4, 2, 0, (0 + 0 + 1 / 2 + 0) / 4),
    "gui-r1-strict": (5, 2, 1, 0, 0.0),
    "gui-odyssey": (5, 1, 1, 0, 0.0),
    "screenspot": (6, 3, 0, 0, (0 + 1 / 3 + 0 + 0) / 4),
}


@pytest.fixture()
def hand_dataset(tmp_path):
    ds = _write_dataset(tmp_path / "ds")
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"id": k, "completion": v}) + "\n" for k, v in PREDICTIONS.items()))
    return ds, pred


@pytest.mark.parametrize("profile", list(EXPECTED))
def test_eval_predictions_file_hand_computed_per_profile(hand_dataset, profile, capsys):
    ds, pred = hand_dataset
    code, out, err = run_cli(["eval", str(ds), "--style", "agentcpm", "--profile", profile,
                              "--predictions", str(pred), "--json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    c = r["counts"]
    assert (c["steps"], c["episodes"], c["predicted"], c["missing"], c["parse_failures"], c["unexpected"]) == (
        9, 4, 8, 1, 1, 1)
    tm, ok, grounded, ep_ok, progress = EXPECTED[profile]
    assert (c["type_match"], c["success"], c["grounding_steps"], c["grounded"], c["episode_successes"]) == (
        tm, ok, 3, grounded, ep_ok)
    m = r["metrics"]
    assert m["type_accuracy"] == pytest.approx(tm / 9) and m["step_success"] == pytest.approx(ok / 9)
    assert m["grounding_accuracy"] == pytest.approx(grounded / 3)
    assert m["goal_progress"] == pytest.approx(progress)
    assert m["parse_failure_rate"] == pytest.approx(1 / 8)
    assert r["examples"] == {"missing": ["e3/1"], "unexpected": ["e9/0"],
                             "parse_failures": [{"id": "e4/0", "error": r["examples"]["parse_failures"][0]["error"]}]}
    if profile == "screenspot":
        assert r["notes"] == {"no target box (action.bbox)": 1}


def test_eval_table_and_per_type(hand_dataset, capsys):
    ds, pred = hand_dataset
    code, out, _ = run_cli(["eval", str(ds), "--style", "agentcpm", "--profile", "androidcontrol",
                            "--predictions", str(pred)], capsys)
    assert code == 0
    assert "profile androidcontrol · style agentcpm · 9 steps in 4 episodes · frame rel1000" in out
    assert "missing 1 · parse failures 1 · unexpected ids 1" in out
    lines = {ln.split()[0] + " " + ln.split()[1]: ln for ln in out.splitlines() if len(ln.split()) > 2}
    assert lines["type accuracy"].split()[2:] == ["77.8%", "7/9"]
    assert lines["step success"].split()[2:] == ["33.3%", "3/9"]
    assert lines["grounding accuracy"].split()[2:] == ["66.7%", "2/3"]
    # per type: click 3 steps, all type-matched, 2 right (e2/1, e3/0), 2 of 3 grounded
    click = next(ln for ln in out.splitlines() if ln.startswith("click "))
    assert click.split() == ["click", "3", "100.0%", "66.7%", "66.7%"]
    code, out, _ = run_cli(["eval", str(ds), "--style", "agentcpm", "--profile", "androidcontrol",
                            "--predictions", str(pred), "--json", "--per-step"], capsys)
    steps = {s["id"]: s for s in json.loads(out)["steps"]}
    assert steps["e1/0"] == {"id": "e1/0", "gt_type": "click", "outcome": "ok", "type_match": True,
                             "success": False, "grounded": False, "pred_type": "click"}
    assert steps["e3/1"]["outcome"] == "missing" and steps["e4/0"]["outcome"] == "parse_failure"


@pytest.mark.parametrize("argv, message", [
    ([], "give exactly one of --predictions, --model or --endpoint"),
    (["--predictions", "P", "--endpoint", "http://127.0.0.1:9"], "(got --predictions, --endpoint)"),
    (["--predictions", "P", "--save-predictions", "x.jsonl"], "--save-predictions only applies"),
])
def test_eval_argument_errors(hand_dataset, argv, message, capsys):
    ds, pred = hand_dataset
    argv = [str(pred) if a == "P" else a for a in argv]
    code, _, err = run_cli(["eval", str(ds), "--style", "agentcpm", "--profile", "aitw", *argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_eval_limit_keeps_unexpected_ids_meaningful(hand_dataset, capsys):
    ds, pred = hand_dataset
    code, out, _ = run_cli(["eval", str(ds), "--style", "agentcpm", "--profile", "aitw", "--predictions",
                            str(pred), "--limit", "1", "--json"], capsys)
    r = json.loads(out)
    # e1 only: 3 steps, 2 right under aitw (e1/2 predicts impossible for complete); e9/0 is still unexpected
    assert (r["counts"]["steps"], r["counts"]["success"], r["counts"]["unexpected"]) == (3, 2, 1)
    assert r["examples"]["unexpected"] == ["e9/0"] and r["meta"]["limit_episodes"] == 1


@pytest.mark.parametrize("extra, message", [(["--per-step"], "--per-step only applies with --json"),
                                            (["--save-predictions", "/nonexistent/dir/p.jsonl"],
                                             "directory /nonexistent/dir does not exist")])
def test_eval_option_errors_before_any_work(hand_dataset, extra, message, capsys):
    ds, pred = hand_dataset
    source = ["--endpoint", "http://127.0.0.1:9"] if "--save-predictions" in extra else ["--predictions", str(pred)]
    code, _, err = run_cli(["eval", str(ds), "--style", "agentcpm", "--profile", "aitw", *source, *extra], capsys)
    assert code == 2 and message in err


def test_eval_bad_predictions_file_is_located(hand_dataset, tmp_path, capsys):
    ds, _ = hand_dataset
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "e1/0"}\n')
    code, _, err = run_cli(["eval", str(ds), "--style", "agentcpm", "--profile", "aitw", "--predictions",
                            str(bad)], capsys)
    assert code == 2 and f"{bad}:1 [e1/0] completion: missing required field" in err


# --------------------------------------------------------------------------- endpoint and model, synthetic data
def test_eval_endpoint_exact_metrics(synth_dataset, tmp_path, capsys):
    from bridge.styles import get_style
    from bridge.styles.base import Unsupported

    style = get_style("agentcpm")
    ds = open_dataset(synth_dataset)
    root = str(ds.root.absolute())
    steps = [(f"{ep.episode_id}/{s.index}", s, job_key(style.messages(ep, pos, root)))
             for ep in ds for pos, s in enumerate(ep.steps)]
    answers, right, point_right = {}, set(), 0
    for k, (sid, s, sha) in enumerate(steps):
        wrong = '{"PRESS":"HOME"}' if s.action.type == "type" else '{"TYPE":"zzz"}'
        try:
            text = style.render_action(s.action, s.width, s.height)
        except Unsupported:
            text = None
        if text is not None and k % 2 == 0:
            answers[sha] = text
            right.add(sid)
            point_right += s.action.type in ("click", "long_press", "double_click", "right_click")
        else:
            answers[sha] = wrong
    assert len(answers) == len(steps), "requests must be distinct for the fake server"
    ids = [sid for sid, _, _ in steps]
    garbage = next(i for i in ids if i not in right)
    broken = next(i for i in ids if i not in right and i != garbage)
    flaky = sorted(right)[0]
    by_id = {sid: sha for sid, _, sha in steps}
    answers[by_id[garbage]] = "I think I will click somewhere"
    saved = tmp_path / "saved.jsonl"
    with FakeOpenAI(answers, flaky=[by_id[flaky]], broken=[by_id[broken]]) as srv:
        code, out, err = run_cli(["eval", str(synth_dataset), "--style", "agentcpm", "--profile", "androidcontrol",
                                  "--endpoint", srv.url, "--concurrency", "3", "--retries", "1", "--json",
                                  "--no-progress", "--save-predictions", str(saved)], capsys)
    assert code == 0, err
    c = json.loads(out)["counts"]
    n = len(steps)
    assert (c["steps"], c["predicted"], c["missing"], c["parse_failures"]) == (n, n - 1, 1, 1)
    assert c["type_match"] == len(right) and c["success"] == len(right)
    assert c["grounded"] == point_right
    assert "1 request(s) failed and count as missing" in err and broken in err
    saved_preds = read_predictions(saved)
    assert len(saved_preds) == n - 1 and broken not in saved_preds and saved_preds[garbage].startswith("I think")


def test_eval_tiny_model_counts_every_step(synth_dataset, tiny_model_dir, tmp_path, capsys):
    from bridge.styles import get_style

    ds = open_dataset(synth_dataset)
    first = [ep for _, ep in zip(range(1), ds)]
    n = sum(len(ep.steps) for ep in first)
    saved = tmp_path / "tiny.jsonl"
    # uitars: the shortest prompt (~400 tokens with the tiny tokenizer) and a smart-resized frame whose
    # min/max pixels are read from the model's processor
    code, out, err = run_cli(["eval", str(synth_dataset), "--style", "uitars", "--profile", "androidcontrol",
                              "--model", str(tiny_model_dir), "--limit", "1", "--batch-size", "3",
                              "--max-new-tokens", "8", "--device", "cpu", "--save-predictions", str(saved)], capsys)
    assert code == 0, err
    assert f"{n} steps in 1 episode · frame resized (factor 28, pixels 3136..12544)" in out, out
    assert "type accuracy" in out and n >= 4
    preds = read_predictions(saved)
    assert sorted(preds) == sorted(f"{ep.episode_id}/{s.index}" for ep in first for s in ep.steps)
    from bridge.styles.base import PromptOptions
    from bridge.tiny import MAX_PIXELS, MIN_PIXELS

    style = get_style("uitars", PromptOptions(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS))
    sizes = {f"{ep.episode_id}/{s.index}": (s.width, s.height) for ep in first for s in ep.steps}
    failures = sum(not style.parse_action(t, *sizes[i]).ok for i, t in preds.items())
    assert f"predictions: {n} for {n} steps · missing 0 · parse failures {failures}" in out
    assert failures >= n - 1   # a random tiny model writes no valid tool call (nearly) ever


def test_sampled_answers_ignore_the_models_generation_config(tiny_model_dir, tmp_path):
    """``bridge eval --env --temperature``: answers are sampled from the whole vocabulary whatever top_k the
    checkpoint's generation_config holds (Qwen2-VL-7B-Instruct's holds 1: greedy in disguise); temperature 0 is
    greedy and repeats itself."""
    import torch
    from PIL import Image

    from bridge.evaluate import generate_batch, load_model, load_processor

    Image.new("RGB", (56, 56), (200, 30, 30)).save(tmp_path / "s.png")
    prompt = [{"role": "user", "content": [{"type": "image", "image": str(tmp_path / "s.png")},
                                           {"type": "text", "text": "click the red square"}]}]
    processor = load_processor(tiny_model_dir)
    model, _ = load_model(tiny_model_dir, "cpu")
    model.generation_config.top_k, model.generation_config.top_p = 1, 0.001
    torch.manual_seed(0)
    greedy = {generate_batch(model, processor, [prompt], max_new_tokens=6)[0] for _ in range(3)}
    sampled = {generate_batch(model, processor, [prompt], max_new_tokens=6, temperature=1.0)[0] for _ in range(4)}
    assert len(greedy) == 1 and len(sampled) == 4, (greedy, sampled)


@pytest.mark.parametrize("argv, message", [
    (["--env", "miniwob", "--policy", "random", "--temperature", "1"], "needs --model or --endpoint, not --policy"),
    (["D", "--style", "uitars", "--profile", "aitw", "--predictions", "P", "--temperature", "1"],
     "--temperature only apply with --env"),
])
def test_eval_temperature_is_for_online_models_only(hand_dataset, argv, message, capsys):
    ds, pred = hand_dataset
    argv = [str(ds) if a == "D" else str(pred) if a == "P" else a for a in argv]
    code, _, err = run_cli(["eval", *argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err
