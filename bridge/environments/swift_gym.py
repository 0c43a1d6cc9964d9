"""Online multi-turn GRPO with ms-swift 4.6: ms-swift's own GRPO trainer (``swift rlhf --rlhf_type grpo``, run in
this process through ``swift.pipelines.rlhf_main``) plays whole episodes in a GUI environment through its gym
multi-turn hook and is rewarded by it. Runs inside the ms-swift virtualenv (no browser there): the episodes run on
an :class:`~bridge.environments.server.EnvServer` (``bridge gui-env serve``) through :class:`RemoteEnv`.

    python -m bridge.environments.swift_gym --env-url http://127.0.0.1:PORT --model DIR --style qwen2vl \\
        --tasks click-test-2,click-color --seeds 8 --max-turns 3 --out runs/online-swift --max-steps 2

The command line is trl_grpo.py's (:func:`~.trl_grpo.arg_parser`). What it wires into ms-swift (file:line of the
installed 4.6.0 wheel, ``swift/``):

* ``--external_plugins OUT/swift_gym_plugin.py`` (``arguments/base_args/base_args.py:170``) calls
  :func:`register`, which adds :class:`BridgeEnv` to the gym registry ``envs`` (``rollout/gym_env.py:127``), the
  scheduler to ``multi_turns`` (``rollout/multi_turn.py:1073``) and the ``env_reward`` / ``smoke_aux`` ORMs to
  ``orms``; ``--multi_turn_scheduler gui_bridge`` picks the scheduler (``rlhf_trainers/rollout_mixin.py:1573``).
* One dataset row per (task, seed): the style's prompt for the episode's first screen, that screen as the row's
  image (rendered exactly as trl_grpo.py does), ``task`` and ``seed`` columns and an ``env_config`` column (how to
  reach and score the environment). Under a multi-turn scheduler ms-swift forwards the extra columns as the
  request's ``data_dict`` (``rl_core/data.py:294``, ``rollout_mixin.py:1633``) and ``GYMScheduler`` builds one
  :class:`BridgeEnv` per trajectory from ``data_dict["env_config"]`` (``multi_turn.py:878``, ``:935``).
* ``GYMScheduler`` calls ``env.reset`` before the first turn and ``env.step`` after every turn, also in colocate
  mode with the transformers engine (``rollout_mixin.py:1123-1143``, ``rollout/agent_loop.py:128``). Its ``step``
  appends the next observation as a text-only user turn (``multi_turn.py:922``): the scheduler here adds the new
  screenshot to the request's images (its user text carries the ``<image>`` placeholder) and returns the images in
  ``rollout_infos["images"]``, which ms-swift copies onto the training sample (``rl_core/data.py:244``), so the
  policy is trained on the screens it saw.
* Reward: the episode's reward at its end (every earlier step 0), so ``GYMScheduler``'s ``total_reward`` is the
  episode's; an episode the task never ended scores ``--unfinished-reward`` (trl_grpo.py's ``_advance``: the same
  code). ms-swift's own gym reward column is off without vLLM — ``_prepare_vllm`` sets ``use_gym_env = False`` and
  returns for ``use_vllm false`` before reading ``--use_gym_env`` (``rollout_mixin.py:378``, ``:390``) — so the
  ``env_reward`` ORM reads ``total_reward`` from the ``rollout_infos`` ms-swift passes to every reward function
  (``rl_core/data.py:150``). ``--smoke`` adds ``smoke_aux`` (bridge/backends/trl/launcher.py) as in trl_grpo.py.
* Credit: one training sample per episode, the whole conversation (every screen, every answer); with a
  multi-turn scheduler ms-swift's loss_scale defaults to ``default`` (``arguments/rlhf_args.py:308``), so every
  turn's completion tokens are trained with the episode's advantage — unlike trl_grpo.py, where only the first
  decision gets the credit. Later turns see the earlier ones in context (a growing chat), where trl_grpo.py renders
  each turn afresh with the style (history as text).
* Limit: ms-swift resets every trajectory of a rollout before the first generation (``rollout_mixin.py:1134``) and
  steps them in lockstep, and an episode holds a browser from reset to its end, so ``--batch-size`` (completions
  per step) must not exceed the server's pool (checked before training). The transformers engine only
  (``use_vllm false``): vLLM is neither installed nor usable on the CPU here.

Writes OUT/model (the trained policy and its processor, for ``bridge eval --model``), OUT/episodes.jsonl (one line
per played episode: task, seed, turns, reward, finished, success, images = screens in its last prompt,
placeholders = ``<image>`` in its messages) and OUT/log_history.json (the trainer's log history).
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import sys
import uuid
from typing import Any, Optional

from .trl_grpo import UNFINISHED_REWARD, _advance, arg_parser, episode_so_far, first_screens, server_size

#: the name of the environment (``envs``) and of the scheduler (``multi_turns``) in ms-swift's registries
NAME = "gui_bridge"
PLUGIN_FILE = "swift_gym_plugin.py"
IMAGE = "<image>"
_REGISTERED: dict[str, type] = {}
_STYLES: dict[tuple, Any] = {}


def swift_text(message: dict[str, Any]) -> tuple[str, list[str]]:
    """A neutral message -> ms-swift's text (one ``<image>`` per image block, where the style put it) and the
    image paths in order (as the swift adapter exports rows: bridge/backends/common.py ``text_messages``)."""
    content = message["content"]
    if isinstance(content, str):
        return content, []
    images = [str(b["image"]) for b in content if b["type"] == "image"]
    return "".join(IMAGE if b["type"] == "image" else b["text"] for b in content), images


def style_for(name: str, min_pixels: int, max_pixels: int):
    key = (name, min_pixels, max_pixels)
    if key not in _STYLES:
        from ..styles import get_style
        from ..styles.base import PromptOptions

        _STYLES[key] = get_style(name, PromptOptions(min_pixels=min_pixels, max_pixels=max_pixels))
    return _STYLES[key]


def first_prompt(style, obs, path: str, task: str, seed: int) -> tuple[str, str, list[str]]:
    """(system text, user text, images) of an episode's first turn, as the style renders it offline."""
    messages = style.messages(episode_so_far([obs], [], [path], obs.instruction, task, seed), 0, "/")
    roles = [m["role"] for m in messages]
    if roles not in (["user"], ["system", "user"]):   # GYMScheduler's reset takes one system + one user turn
        raise ValueError(f"style {style.name!r} renders a first turn as {roles}; the gym hook needs system? + user")
    system = swift_text(messages[0])[0] if roles[0] == "system" else ""
    user, images = swift_text(messages[-1])
    return system, user, images


def _open(ref: str):
    """A request image (a path, or base64 as ms-swift passes loaded bytes: rl_core/data.py:267) as PIL."""
    from PIL import Image

    if os.path.exists(ref):
        with Image.open(ref) as im:
            return im.convert("RGB")
    return Image.open(io.BytesIO(base64.b64decode(ref))).convert("RGB")


#: share of pixels a replayed first screen may differ by. MiniWoBEnv.reset prevents the differences found (a task's
#: first episode after its page loads: 2 of click-tab's 33,600 pixels; a tab drawn hovered under the pointer the
#: last episode left there: 3 %); another seed's screen differs in thousands of pixels.
MAX_DIFFERING = 0.005


def differing_pixels(a, b) -> float:
    """Share of pixels that differ between two screenshots (1.0 if their sizes differ)."""
    if a.size != b.size:
        return 1.0
    pa, pb = a.convert("RGB").getdata(), b.convert("RGB").getdata()
    return sum(x != y for x, y in zip(pa, pb)) / max(1, len(pa))


def episode_images(messages: list[dict[str, Any]]) -> int:
    return sum(m["content"].count(IMAGE) for m in messages if isinstance(m.get("content"), str))


def register() -> dict[str, type]:
    """Add the environment, the scheduler and the ORMs to ms-swift's registries (what the plugin file runs).
    Idempotent; imports ms-swift, so it runs in its virtualenv only."""
    if _REGISTERED:
        return _REGISTERED
    from swift.rewards import ORM, orms
    from swift.rollout.gym_env import Env, envs
    from swift.rollout.multi_turn import GYMScheduler, multi_turns

    from .server import RemoteEnv

    class BridgeEnv(Env):
        """One episode of a (task, seed) on the EnvServer at ``env_config["url"]`` (a new one per trajectory:
        multi_turn.py:879). ``reset``/``step`` block on HTTP, so they run in threads: the trajectories of a
        rollout are reset and stepped concurrently (``asyncio.gather``, multi_turn.py:893, agent_loop.py:128)."""

        def __init__(self, env_config):
            super().__init__(env_config)
            c = dict(env_config)
            self.style = style_for(c["style"], int(c["min_pixels"]), int(c["max_pixels"]))
            self.max_turns, self.unfinished = int(c["max_turns"]), float(c["unfinished_reward"])
            self.workdir, self.log = c["workdir"], c["log"]
            self.remote = RemoteEnv(c["url"])
            self.e: dict[str, Any] = {}
            self.new_images: list[str] = []

        async def reset(self, config):
            data = config.data_dict or {}
            task, seed = str(data["task"]), int(data["seed"])
            obs, _ = await asyncio.to_thread(self.remote.reset, seed=seed, options={"task": task})
            p = uuid.uuid4().hex[:12]
            self.e = {"p": p, "task": task, "seed": seed, "env": self.remote, "obs": [obs], "actions": [],
                      "paths": [os.path.join(self.workdir, f"{p}-0.png")], "reward": self.unfinished,
                      "finished": False, "turn": 0, "done": False}
            obs.image.save(self.e["paths"][0])
            # The first decision is sampled on the row's image (ms-swift encodes the dataset's images for the first
            # turn: rollout_mixin.py:1137-1141), the later ones continue this episode: they must be one screen
            # (seeded episodes re-render identical pixels, tests/test_environments.py).
            if config.images and (diff := differing_pixels(_open(config.images[0]), obs.image)) > MAX_DIFFERING:
                raise RuntimeError(f"{task} (seed {seed}): the environment's first screen differs from the dataset's "
                                   f"in {diff:.1%} of its pixels (the task does not render deterministically under "
                                   "its seed)")
            system, user, _ = first_prompt(self.style, obs, self.e["paths"][0], task, seed)
            return user, {"task": task, "seed": seed}, system

        async def step(self, action):
            text = action[-1]["content"]
            obs = self.e["obs"][-1]
            self.e["actions"].append(self.style.parse_action(text if isinstance(text, str) else "",
                                                             obs.width, obs.height).action)
            # trl_grpo.py's step: the task's end reward, else --unfinished-reward once the episode stops
            await asyncio.to_thread(_advance, self.e, self.max_turns, self.workdir, self.style, self.unfinished)
            if self.e["done"]:
                self.new_images = []
                return "", self.e["reward"], True, {"finished": self.e["finished"]}
            text, self.new_images = swift_text(self.e["messages"][-1])
            return text, 0.0, False, {}

        async def close(self):
            if self.e and not self.e["done"]:   # stopped early (a failed step): hand the browser back now
                from ..schema import Action

                self.e["done"] = True
                await asyncio.to_thread(self.remote.step, Action(type="status", status="impossible"))

        def record(self, **extra) -> None:
            e = self.e
            row = {"task": e["task"], "seed": e["seed"], "turns": e["turn"], "reward": e["reward"],
                   "finished": e["finished"], "success": bool(e["finished"] and e["reward"] > 0), **extra}
            with open(self.log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")

    class BridgeScheduler(GYMScheduler):
        """``GYMScheduler`` whose observations are screenshots: each new user turn also adds its screens to the
        request's images, and the final images reach the training sample through ``rollout_infos``."""

        def step(self, infer_request, response_choice, current_turn):
            env = self._envs.get(infer_request.uuid)
            pending = self._pending_obs.get(infer_request.uuid) is not None
            out = super().step(infer_request, response_choice, current_turn)   # appends the user text turn
            if pending and isinstance(env, BridgeEnv):
                infer_request.images.extend(env.new_images)
                out.setdefault("rollout_infos", {})["images"] = list(infer_request.images)
            return out

        async def on_turn_end(self, infer_request, response_choice, current_turn):
            env = self._envs.get(infer_request.uuid)   # GYMScheduler drops it when the episode ends
            out = await super().on_turn_end(infer_request, response_choice, current_turn)
            if out.get("done") and isinstance(env, BridgeEnv) and env.e:
                env.record(images=len(infer_request.images), placeholders=episode_images(infer_request.messages))
            return out

    class env_reward(ORM):   # noqa: N801 (ms-swift logs a reward under its class name: rewards/env_reward/mean)
        """The environment's reward of each completion's episode (GYMScheduler's ``total_reward``)."""

        def __call__(self, completions, rollout_infos=None, images=None, messages=None, **kwargs) -> list[float]:
            infos = rollout_infos or []
            if len(infos) != len(completions) or any(not i or "total_reward" not in i for i in infos):
                raise ValueError(f"env_reward: no episode reward for some of {len(completions)} completions (was the "
                                 f"trainer run with --multi_turn_scheduler {NAME}?)")
            # The samples scored here are the ones trained next (rlhf_trainers/rollout_mixin.py:142-143): each
            # must carry every screen its conversation shows. ms-swift does not check it — a sample with fewer
            # images than <image> placeholders trains without complaint (found by planting that fault).
            for i, (imgs, msgs) in enumerate(zip(images or [None] * len(infos), messages or [])):
                if len(imgs or []) != episode_images(msgs):
                    raise ValueError(f"env_reward: completion {i}'s sample has {len(imgs or [])} image(s) for "
                                     f"{episode_images(msgs)} <image> placeholder(s) in its conversation")
            return [float(i["total_reward"]) for i in infos]

    class smoke_aux(ORM):   # noqa: N801
        """Smoke runs only: the TRL launcher's dense auxiliary reward (so a random tiny model gets a gradient)."""

        def __call__(self, completions, **kwargs) -> list[float]:
            from ..backends.trl.launcher import smoke_aux as dense

            return dense(completions=completions)

    envs[NAME] = BridgeEnv
    multi_turns[NAME] = BridgeScheduler
    orms["env_reward"], orms["smoke_aux"] = env_reward, smoke_aux
    _REGISTERED.update(env=BridgeEnv, scheduler=BridgeScheduler, env_reward=env_reward, smoke_aux=smoke_aux)
    return _REGISTERED


def _fail(msg: str) -> int:
    msg = "; ".join(line.strip() for line in str(msg).splitlines() if line.strip())   # one line
    print(f"swift_gym: error: {msg}", file=sys.stderr, flush=True)
    return 2


def build_rows(args, style, px, screens: str, workdir: str, log: str) -> list[dict[str, Any]]:
    """One ms-swift GRPO row per (task, seed) (module docstring)."""
    from ..backends.swift.adapter import token_exact

    env_config = {"name": NAME, "url": args.env_url, "style": args.style, "min_pixels": px.min_pixels,
                  "max_pixels": px.max_pixels, "max_turns": args.max_turns,
                  "unfinished_reward": args.unfinished_reward, "workdir": workdir, "log": log}
    rows = []
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    for task, seed, obs, path in first_screens(args.env_url, tasks, args.seeds, screens):
        system, user, images = first_prompt(style, obs, path, task, seed)
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        row = {"messages": messages, "images": images, "task": task, "seed": seed, "env_config": env_config}
        if not token_exact(px):   # as the swift adapter's export: the exact bounds travel with the row
            row["chat_template_kwargs"] = {"min_pixels": px.min_pixels, "max_pixels": px.max_pixels}
        rows.append(row)
    return rows


def swift_arguments(args, model_type: str, data: str, plugin: str) -> dict[str, Any]:
    """ms-swift's RLHFArguments for the run: full fine-tuning in float32 with the trl_grpo.py optimiser settings
    (TRL's defaults, which ms-swift's differ from: bridge/backends/swift/adapter.py)."""
    from ..backends.swift.adapter import WHOLE_VOCABULARY

    funcs = ["env_reward"] + (["smoke_aux"] if args.smoke else [])
    return dict(
        rlhf_type="grpo", model=args.model, model_type=model_type, template=model_type, use_hf=True,
        torch_dtype="float32", fp16=False, bf16=False, tuner_type="full", freeze_vit=False, freeze_aligner=False,
        freeze_llm=False, dataset=[data], split_dataset_ratio=0.0, strict=True, dataset_num_proc=1,
        dataloader_num_workers=0, output_dir=args.out, add_version=False, logging_steps=1,
        save_strategy="steps", save_steps=args.save_steps or 10 ** 9, save_only_model=True, report_to=["none"],
        per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=1, steps_per_generation=1,
        learning_rate=args.lr, max_steps=args.max_steps, lr_scheduler_type="linear", warmup_ratio=0.0,
        weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, max_grad_norm=1.0,
        num_generations=args.num_generations, beta=0.0, temperature=args.temperature, top_p=1.0,
        # top_k 0 = the whole vocabulary; ms-swift would read <= 0 as the model's generation_config top_k
        top_k=args.top_k or WHOLE_VOCABULARY, max_completion_length=args.max_new_tokens, num_iterations=1,
        external_plugins=[plugin], reward_funcs=funcs, multi_turn_scheduler=NAME, max_turns=args.max_turns,
        use_vllm=False,
        # the prompts of every task mixed along the run (ms-swift's sampler: grpo_trainer.py:2129), as TRL's
        # shuffles them; in file order a step of 8 completions would play one task for 16 steps in a row
        dataset_shuffle=True)


def main(argv: Optional[list[str]] = None) -> int:
    args = arg_parser("Online multi-turn GRPO in a GUI environment (ms-swift's GRPO trainer, gym multi-turn "
                      "hook)").parse_args(argv)
    import urllib.error

    from ..backends.swift.adapter import MODEL_TYPES, pixel_env
    from ..errors import BridgeError
    from ..frames import effective_pixels

    try:
        model_type = json.loads(open(os.path.join(args.model, "config.json"), encoding="utf-8").read())["model_type"]
    except (OSError, ValueError, KeyError) as e:
        return _fail(f"--model {args.model}: not a model directory ({e})")
    if model_type not in MODEL_TYPES:
        return _fail(f"--model {args.model}: model_type {model_type!r} is not one ms-swift's adapter knows "
                     f"({', '.join(MODEL_TYPES)})")
    if args.batch_size % args.num_generations:
        return _fail(f"--batch-size {args.batch_size} (completions per step) is not a multiple of "
                     f"--num-generations {args.num_generations}")
    px = effective_pixels(args.model)
    try:
        style = style_for(args.style, px.min_pixels, px.max_pixels)
    except BridgeError as e:
        return _fail(f"--style {args.style}: {e}")
    args.model, args.out = os.path.abspath(args.model), os.path.abspath(args.out)
    out = args.out
    screens, workdir = os.path.join(out, "screens"), os.path.join(out, "screens", "episodes")
    os.makedirs(workdir, exist_ok=True)
    log = os.path.join(out, "episodes.jsonl")
    try:
        size = server_size(args.env_url)
        if args.batch_size > size:
            return _fail(f"--batch-size {args.batch_size}: more episodes at once than the server at {args.env_url} "
                         f"has environments ({size}); ms-swift resets a whole rollout before its first turn, so "
                         "serve a pool at least that large (bridge gui-env serve --pool N) or lower --batch-size")
        rows = build_rows(args, style, px, screens, workdir, log)
    except (urllib.error.URLError, OSError) as e:
        return _fail(f"cannot reach the environment server at {args.env_url}: {getattr(e, 'reason', e)}")
    except (RuntimeError, BridgeError, ValueError) as e:
        return _fail(str(e))
    if not rows:
        return _fail("no episodes: --tasks and --seeds give an empty dataset")
    data = os.path.join(out, "train.jsonl")
    with open(data, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    open(log, "w").close()
    plugin = os.path.join(out, PLUGIN_FILE)
    with open(plugin, "w", encoding="utf-8") as fh:
        fh.write('"""ms-swift --external_plugins module written by bridge.environments.swift_gym: registers the\n'
                 f'GUI environment and its scheduler ({NAME!r}) and the env_reward / smoke_aux ORMs."""\n'
                 "from bridge.environments.swift_gym import register\n\nregister()\n")
    # ms-swift reads the resize policy from the environment (bridge/backends/swift/adapter.py: pixel_env)
    os.environ.update({**pixel_env(px), "TOKENIZERS_PARALLELISM": "false"})

    from swift.arguments import RLHFArguments
    from swift.pipelines import rlhf_main

    result = rlhf_main(RLHFArguments(**swift_arguments(args, MODEL_TYPES[model_type][0], data, plugin)))
    last = result.get("last_model_checkpoint")
    if not last or not os.path.isdir(last):
        return _fail(f"ms-swift saved no final checkpoint under {out}")
    final = os.path.join(out, "model")                # the trained policy, for bridge eval --model
    shutil.rmtree(final, ignore_errors=True)
    if args.save_steps:                              # OUT/checkpoint-N stay, as trl_grpo.py's --save-steps
        shutil.copytree(last, final)
    else:
        os.replace(last, final)
        link = os.path.join(out, "last-checkpoint")  # transformers' link to the checkpoint just moved
        if os.path.islink(link) and not os.path.exists(link):
            os.remove(link)
    with open(os.path.join(out, "log_history.json"), "w", encoding="utf-8") as fh:
        json.dump(result.get("log_history") or [], fh, indent=1, default=str)
    shutil.rmtree(workdir, ignore_errors=True)       # later turns' screens (the samples that used them are done)
    with open(log, encoding="utf-8") as fh:
        played = sum(1 for _ in fh)
    print(f"online GRPO (ms-swift): {result.get('global_step')} step(s), {played} episode(s) played", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
