"""Path attacks on every command that reads or sends an image (issue 11 item 1): ``validate``, ``inspect
--render``, ``convert`` (the exporters), ``eval --model`` and ``eval --endpoint``. Each hostile dataset is refused
with exit 2, a located message naming the path, no traceback, nothing written — and a recording server receives
nothing. Legitimate layouts (images linked from the import source, referenced in place) still pass."""
import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from bridge.cli import main
from bridge.paths import ImagePolicy

W, H = 40, 80


def png(path: Path, color=(200, 10, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (W, H), color).save(path)
    return path


def write_dataset(root: Path, screenshot: str, *, extra=(), image_root=None, meta=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    step = {"index": 0, "screenshot": screenshot, "width": W, "height": H, "extra_images": list(extra),
            "action": {"type": "click", "point": [10.0, 20.0]}}
    (root / "episodes.jsonl").write_text(json.dumps({"episode_id": "e0", "instruction": "tap", "steps": [step]}) + "\n")
    manifest = {"format": "gui-bridge/dataset", "version": 2, "episodes": 1, "steps": 1, "meta": meta or {}}
    if image_root is not None:
        manifest["image_root"] = str(image_root)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture
def secret(tmp_path):
    """Files outside the dataset: a real PNG and a non-image 'secret'."""
    outside = tmp_path / "private"
    png(outside / "photo.png", (1, 2, 3))
    (outside / "secret.txt").write_text("API_KEY=hunter2\n")
    return outside


def attack(tmp_path, secret, kind) -> Path:
    """One hostile dataset per kind of path attack."""
    ds = tmp_path / "ds"
    png(ds / "images" / "ok.png")
    if kind == "dotdot":
        return write_dataset(ds, "../private/photo.png")
    if kind == "absolute":
        return write_dataset(ds, str(secret / "photo.png"))
    if kind == "symlink-file":
        (ds / "images" / "s.png").symlink_to(secret / "photo.png")
        return write_dataset(ds, "images/s.png")
    if kind == "symlink-text":
        (ds / "images" / "s.png").symlink_to(secret / "secret.txt")
        return write_dataset(ds, "images/s.png")
    if kind == "symlink-folder":
        (ds / "images" / "linked").symlink_to(secret, target_is_directory=True)
        return write_dataset(ds, "images/linked/photo.png")
    if kind == "symlink-chain":
        (ds / "images" / "b.png").symlink_to(secret / "photo.png")
        (ds / "images" / "a.png").symlink_to("b.png")
        return write_dataset(ds, "images/a.png")
    if kind == "symlink-relative-up":
        (ds / "images" / "s.png").symlink_to(Path("..") / ".." / "private" / "photo.png")
        return write_dataset(ds, "images/s.png")
    if kind == "extra-image":
        (ds / "images" / "s.png").symlink_to(secret / "photo.png")
        return write_dataset(ds, "images/ok.png", extra=["images/s.png"])
    if kind == "image-root-slash":
        return write_dataset(ds, str(secret / "photo.png").lstrip("/"), image_root="/")
    raise AssertionError(kind)


KINDS = ["dotdot", "absolute", "symlink-file", "symlink-text", "symlink-folder", "symlink-chain",
         "symlink-relative-up", "extra-image", "image-root-slash"]


class Recorder:
    """An OpenAI-compatible server that records every request body (and answers a click)."""

    def __init__(self):
        self.bodies = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, obj):
                data = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send({"data": [{"id": "m"}]})

            def do_POST(self):
                rec.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self._send({"choices": [{"message": {"content": "click(start_box='(1,1)')"}}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def run(argv, capsys):
    """(exit code, stderr + stdout) of the CLI in this process."""
    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.err + out.out


def commands(ds, tmp_path, url):
    return {
        "validate": ["validate", ds],
        "inspect": ["inspect", ds, "--render", tmp_path / "r.png"],
        "convert": ["convert", ds, "--backend", "trl", "--style", "qwen2vl", "--out", tmp_path / "exp"],
        "eval-model": ["eval", ds, "--style", "qwen2vl", "--profile", "aitw", "--model", tmp_path / "no-model"],
        "eval-endpoint": ["eval", ds, "--style", "qwen2vl", "--profile", "aitw", "--endpoint", url,
                          "--model-name", "m", "--no-progress"],
    }


@pytest.mark.parametrize("command", ["validate", "inspect", "convert", "eval-model", "eval-endpoint"])
@pytest.mark.parametrize("kind", KINDS)
def test_path_attack_is_refused_everywhere(tmp_path, secret, kind, command, capsys):
    if kind == "extra-image" and command in ("inspect", "convert"):
        pytest.skip("these do not read extra images (qwen2vl shows the screenshot only)")
    ds = attack(tmp_path, secret, kind)
    server = Recorder()
    try:
        code, err = run(commands(ds, tmp_path, server.url)[command], capsys)
    finally:
        server.close()
    assert code == 2, err
    assert "episodes.jsonl" in err or "manifest.json" in err, err   # located
    assert server.bodies == []                         # nothing was uploaded
    assert not (tmp_path / "r.png").exists() and not (tmp_path / "exp").exists()
    leaked = base64.b64encode((secret / "photo.png").read_bytes()).decode()
    assert leaked not in err


def test_validate_names_the_symlink_and_the_field(tmp_path, secret, capsys):
    ds = attack(tmp_path, secret, "symlink-file")
    code, err = run(["validate", ds], capsys)
    assert code == 2
    assert "[e0] steps[0].screenshot: symlink resolves outside the dataset" in err, err


def test_legitimate_links_into_the_import_source_pass(tmp_path, capsys):
    """`bridge import --images symlink` (and `link` across file systems) points into meta.source_path;
    `--images ref` reads under image_root: both stay allowed."""
    src = tmp_path / "src"
    png(src / "shot.png")
    linked = tmp_path / "linked"
    (linked / "images").mkdir(parents=True)
    (linked / "images" / "shot.png").symlink_to(src / "shot.png")
    write_dataset(linked, "images/shot.png", meta={"source_path": str(src)})
    ref = write_dataset(tmp_path / "ref", "shot.png", image_root=src)
    for ds in (linked, ref):
        code, err = run(["validate", ds], capsys)
        assert code == 0, err
        code, err = run(["inspect", ds, "--render", tmp_path / "ok.png"], capsys)
        assert code == 0 and (tmp_path / "ok.png").exists(), err


def test_policy_unit(tmp_path, secret):
    ds = attack(tmp_path, secret, "symlink-chain")
    policy = ImagePolicy(ds)
    assert policy.problem(str(ds / "images" / "ok.png")) is None
    assert policy.problem(str(ds / "images" / "missing.png")) is None   # existence is the reader's to report
    assert "symlink" in policy.problem(str(ds / "images" / "a.png"))
    assert "outside" in policy.problem(str(secret / "photo.png"))
    loop = ds / "images" / "loop.png"
    loop.symlink_to(loop)
    assert policy.problem(str(loop)) == "symlink: too many levels of symbolic links"
    # a declared root that is the file-system root grants nothing
    assert ImagePolicy(ds, image_root="/").problem(str(secret / "photo.png")) is not None
