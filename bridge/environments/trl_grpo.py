"""Online multi-turn GRPO with TRL: ``GRPOTrainer(rollout_func=...)`` plays whole episodes in a GUI
environment and is rewarded by it. Runs inside the TRL virtualenv (no browser there): the episodes run on an
:class:`~bridge.environments.server.EnvServer` (``bridge gui-env serve``) through :class:`RemoteEnv`.

    python -m bridge.environments.trl_grpo --env-url http://127.0.0.1:PORT --model DIR --style qwen2vl \\
        --tasks click-test-2,click-color --seeds 8 --max-turns 3 --out runs/online --max-steps 2

What is trained (TRL 1.16, ``trl/trainer/grpo_trainer.py``: ``rollout_func(prompts, trainer)`` must return
``prompt_ids``, ``completion_ids`` and ``logprobs``; other keys reach the reward functions; the forward pass
uses the dataset's images): each dataset row is the first screen of one (task, seed) episode, rendered by the
style exactly as offline; for every one of the group's completions the rollout plays the whole episode —
the first turn is the trained completion, later turns are sampled from the same model on the new screens —
and the episode's reward (MiniWoB's, at its end) is that completion's reward (``env_reward``). Single-turn
tasks are therefore exact GRPO; on multi-turn tasks only the first decision gets the credit (later turns
would need one training sample each, which ``rollout_func`` cannot return). An episode the task itself never
ended — cut at ``--max-turns``, given up by the policy, or never a parsable answer — scores ``--unfinished-reward``,
-1 by default: MiniWoB's own verdict on it, its clock's time-out (``miniwob/html/core/core.js``:
``core.endEpisode(-1, false, 'timed out')``). The 0 the environment reports while an episode runs ranked a miss
above a wrong click (-1 in click-test-2, click-color: ``core.endEpisode(-1.0, false)``) and an unparsable answer
above both, so GRPO learnt to click nothing (bench/results/miniwob_learning.md). ``--smoke`` adds the dense
auxiliary reward of bridge/backends/trl/launcher.py's smoke runs, so that a random tiny model (every episode
reward 0) still gets non-zero advantages and a gradient.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from typing import Any, Optional

from ..schema import Action, Episode, Step


def image_key(image) -> str:
    """Identity of a first screen (seeded episodes re-render identical pixels: tests/test_environments.py)."""
    return hashlib.sha1(image.convert("RGB").tobytes()).hexdigest()


def trl_prompt(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neutral messages -> TRL's conversational prompt: image payloads become ``{"type": "image"}`` blocks,
    filled in order from the row's ``images`` (as bridge/backends/trl/adapter.py exports them)."""
    out = []
    for m in messages:
        blocks = [{"type": "image"} if b["type"] == "image" else {"type": "text", "text": b["text"]}
                  for b in m["content"]]
        out.append({"role": m["role"], "content": blocks})
    return out


def episode_so_far(obs_list, actions, paths, instruction: str, task: str, seed) -> Episode:
    """The running episode (past actions as taken, a placeholder action on the current step)."""
    steps = [Step(index=k, screenshot=paths[k], width=o.width, height=o.height,
                  action=(actions[k] if k < len(actions) and actions[k] is not None else Action(type="wait")))
             for k, o in enumerate(obs_list)]
    return Episode(episode_id=f"{task}-{seed}", instruction=instruction, platform="web", app=task,
                   source="environment", steps=steps)


def build_dataset(env_url: str, tasks: list[str], seeds: int, style, workdir: str):
    """One row per (task, seed): the style's prompt for the episode's first screen, the screen as the image.
    Returns (datasets.Dataset, {image key: (task, seed)})."""
    import datasets

    rows, index = [], {}
    for task, seed, obs, path in first_screens(env_url, tasks, seeds, workdir):
        messages = style.messages(episode_so_far([obs], [], [path], obs.instruction, task, seed), 0, "/")
        rows.append({"prompt": trl_prompt(messages), "images": [path], "task": task, "seed": seed})
        index[image_key(obs.image)] = (task, seed)
    ds = datasets.Dataset.from_list(rows).cast_column("images", datasets.Sequence(datasets.Image()))
    return ds, index


def first_screens(env_url: str, tasks: list[str], seeds: int, workdir: str):
    """``(task, seed, observation, path)`` of the first screen of every (task, seed) episode, saved as
    ``workdir/TASK-SEED.png``; each episode is ended at once (its browser goes back to the pool)."""
    from .server import RemoteEnv

    env = RemoteEnv(env_url)
    for task in tasks:
        for seed in range(seeds):
            obs, _ = env.reset(seed=seed, options={"task": task})
            path = os.path.join(workdir, f"{task}-{seed}.png")
            obs.image.save(path)
            env.step(Action(type="status", status="impossible"))
            yield task, seed, obs, path


def _image(block) -> Any:
    from PIL import Image

    img = block.get("image")
    if isinstance(img, str):
        with Image.open(img) as im:
            return im.convert("RGB")
    return img


def sample_batch(model, processor, prompts: list, temperature: float, max_new_tokens: int,
                 top_k: int = 0) -> list[tuple]:
    """Sampled completions of a batch of prompts (messages whose image blocks carry a PIL image or a path),
    left-padded into one ``generate``: per prompt (prompt ids, completion ids up to its end token, per-token
    log-probabilities under the sampling distribution, text). ``top_k`` 0 = the whole vocabulary."""
    import torch

    tok = getattr(processor, "tokenizer", processor)
    tok.padding_side = "left"
    texts = [processor.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in prompts]
    images = [_image(b) for m in prompts for msg in m if isinstance(msg["content"], list)
              for b in msg["content"] if b.get("type") == "image"]
    inputs = processor(text=texts, images=images or None, padding=True, return_tensors="pt").to(model.device)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=True, temperature=temperature, top_p=1.0, top_k=top_k,
                             max_new_tokens=max_new_tokens, output_scores=True, return_dict_in_generate=True,
                             pad_token_id=pad)
    width = inputs["input_ids"].shape[1]
    logps = torch.stack([torch.log_softmax(s.float(), -1) for s in out.scores], 1)   # batch x new x vocab
    results = []
    for i in range(len(prompts)):
        prompt_ids = inputs["input_ids"][i][inputs["attention_mask"][i].bool()].tolist()
        ids = out.sequences[i, width:].tolist()
        if tok.eos_token_id in ids:   # what the model produced up to and including its end token
            ids = ids[:ids.index(tok.eos_token_id) + 1]
        lp = [logps[i, t, tid].item() for t, tid in enumerate(ids)]
        results.append((prompt_ids, ids, lp, processor.decode(ids, skip_special_tokens=True)))
    return results


#: the reward of an episode the task never ended (module docstring): MiniWoB's time-out
UNFINISHED_REWARD = -1.0


def make_rollout_func(env_url: str, style, index: dict, *, max_turns: int, temperature: float = 1.0,
                      max_new_tokens: int = 64, log: Optional[list] = None,
                      unfinished_reward: float = UNFINISHED_REWARD, top_k: int = 0):
    """``rollout_func(prompts, trainer)`` for ``GRPOTrainer`` (module docstring). The episodes of a batch run in
    lockstep: one batched ``generate`` per turn for every episode still running, their steps in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    from .server import RemoteEnv

    def first_image(prompt):
        for m in prompt:
            for b in m["content"] if isinstance(m["content"], list) else []:
                if b.get("type") == "image" and b.get("image") is not None:
                    return b["image"]
        raise ValueError("a prompt without its screen image")

    def rollout(prompts, trainer):
        import shutil

        model = trainer.accelerator.unwrap_model(trainer.model)
        processor = trainer.processing_class
        was_training = model.training
        model.eval()
        workdir = tempfile.mkdtemp(prefix="bridge-rollout-")
        eps = []
        for p, prompt in enumerate(prompts):
            task, seed = index[image_key(first_image(prompt))]
            eps.append({"p": p, "task": task, "seed": seed, "env": RemoteEnv(env_url), "messages": prompt,
                        "obs": [], "actions": [], "paths": [], "reward": unfinished_reward, "finished": False,
                        "turn": 0, "done": False})
        # Every trained (first-turn) completion in one batch: the first screens are the prompts' own images.
        # Then the episodes play in waves of at most the server's pool size — an episode holds a browser from
        # reset to its end, so more episodes at once than browsers would wait on each other until the lease
        # timeout; later turns are sampled in one batch per turn for the episodes of a wave still running.
        samples = sample_batch(model, processor, [e["messages"] for e in eps], temperature, max_new_tokens, top_k)
        first, texts = [s[:3] for s in samples], [s[3] for s in samples]
        size = server_size(env_url)
        try:
            with ThreadPoolExecutor(size) as pool:
                def reset(e):
                    obs, _ = e["env"].reset(seed=e["seed"], options={"task": e["task"]})
                    e["obs"].append(obs)
                    e["paths"].append(os.path.join(workdir, f"{e['p']}-0.png"))
                    obs.image.save(e["paths"][-1])

                for k in range(0, len(eps), size):
                    wave = eps[k:k + size]
                    list(pool.map(reset, wave))
                    while True:
                        live = [e for e in wave if not e["done"]]
                        if not live:
                            break
                        later = [e for e in live if e["turn"] > 0]
                        sampled = dict(zip(map(id, later), sample_batch(
                            model, processor, [e["messages"] for e in later], temperature, max_new_tokens, top_k)
                            if later else []))
                        for e in live:
                            text = texts[e["p"]] if e["turn"] == 0 else sampled[id(e)][3]
                            obs = e["obs"][-1]
                            e["actions"].append(style.parse_action(text, obs.width, obs.height).action)
                        list(pool.map(lambda e: _advance(e, max_turns, workdir, style, unfinished_reward),
                                      live))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            model.train(was_training)
        out = {"prompt_ids": [f[0] for f in first], "completion_ids": [f[1] for f in first],
               "logprobs": [f[2] for f in first], "env_reward": [e["reward"] for e in eps],
               "env_turns": [e["turn"] for e in eps]}
        if log is not None:
            log.extend({"task": e["task"], "seed": e["seed"], "reward": e["reward"], "turns": e["turn"],
                        "finished": e["finished"]} for e in eps)
        return out

    return rollout


def server_size(env_url: str) -> int:
    """How many episodes the server at ``env_url`` can play at once (its pool's size: ``GET /health``)."""
    import urllib.request

    with urllib.request.urlopen(env_url.rstrip("/") + "/health", timeout=30) as resp:
        return max(1, int(json.loads(resp.read())["size"]))


def _advance(e: dict, max_turns: int, workdir: str, style, unfinished_reward: float = UNFINISHED_REWARD) -> None:
    """Step episode ``e`` with its last action; on to its next prompt, or done (the browser handed back) with
    the task's reward if the task ended it, else ``unfinished_reward`` (module docstring)."""
    obs, reward, terminated, truncated, info = e["env"].step(e["actions"][-1])
    e["turn"] += 1
    e["finished"] = bool(terminated) and "stopped_by_agent" not in info   # the task's own end, not ours
    e["reward"] = float(reward) if e["finished"] else unfinished_reward
    if terminated or truncated or e["turn"] >= max_turns:
        if not (terminated or truncated):
            e["env"].step(Action(type="status", status="impossible"))
        e["done"] = True
        return
    e["paths"].append(os.path.join(workdir, f"{e['p']}-{e['turn']}.png"))
    obs.image.save(e["paths"][-1])
    e["obs"].append(obs)
    first = e["obs"][0]
    ep = episode_so_far(e["obs"], e["actions"], e["paths"], first.instruction, e["task"], e["seed"])
    e["messages"] = style.messages(ep, e["turn"], "/")


def env_reward(prompts=None, completions=None, env_reward=None, **kwargs) -> list[float]:
    """The environment's reward of each completion's episode (from the rollout's ``env_reward`` field)."""
    if env_reward is None or len(env_reward) != len(completions):
        raise ValueError(f"env_reward: {0 if env_reward is None else len(env_reward)} rewards for "
                         f"{len(completions)} completions (was GRPOTrainer given the environment's rollout_func?)")
    return [float(r) for r in env_reward]


def arg_parser(description: str) -> argparse.ArgumentParser:
    """The command line of the online GRPO entry points (this one, bridge/environments/swift_gym.py): one
    vocabulary whatever the trainer."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--env-url", required=True, help="an EnvServer (bridge gui-env serve)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--style", default="qwen2vl")
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--seeds", type=int, default=8, help="episodes (seeds 0..N-1) per task in the dataset")
    ap.add_argument("--max-turns", type=int, default=3)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-steps", type=int, default=2)
    ap.add_argument("--num-generations", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0, help="sample from the k likeliest tokens (0 = all)")
    ap.add_argument("--unfinished-reward", type=float, default=UNFINISHED_REWARD,
                    help="reward of an episode the task never ended (default -1: MiniWoB's time-out)")
    ap.add_argument("--save-steps", type=int, default=0,
                    help="also save the policy every N steps (OUT/checkpoint-N, model and processor only; 0 = the "
                         "final one only, OUT/model)")
    ap.add_argument("--smoke", action="store_true", help="add a dense auxiliary reward (plumbing checks only)")
    return ap


def main(argv=None) -> int:
    args = arg_parser("Online multi-turn GRPO in a GUI environment (TRL rollout_func)").parse_args(argv)

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import GRPOConfig, GRPOTrainer

    from ..evaluate import processor_pixels
    from ..styles import get_style
    from ..styles.base import PromptOptions

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    processor = AutoProcessor.from_pretrained(args.model)
    lo, hi = processor_pixels(processor)
    style = get_style(args.style, PromptOptions(min_pixels=lo, max_pixels=hi))
    os.makedirs(args.out, exist_ok=True)
    screens = os.path.join(args.out, "screens")
    os.makedirs(screens, exist_ok=True)
    ds, index = build_dataset(args.env_url, [t.strip() for t in args.tasks.split(",") if t.strip()], args.seeds,
                              style, screens)
    episodes: list = []
    use_cpu = not torch.cuda.is_available()
    config = GRPOConfig(output_dir=args.out, use_cpu=use_cpu, max_steps=args.max_steps, learning_rate=args.lr,
                        per_device_train_batch_size=args.batch_size, num_generations=args.num_generations,
                        max_completion_length=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                        logging_steps=1, report_to=[], bf16=False, beta=0.0,
                        **({"save_strategy": "steps", "save_steps": args.save_steps, "save_only_model": True}
                           if args.save_steps else {"save_strategy": "no"}))
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.float32)
    funcs = [env_reward]
    if args.smoke:
        from ..backends.trl.launcher import smoke_aux

        funcs.append(smoke_aux)
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=config, train_dataset=ds,
                          processing_class=processor,
                          rollout_func=make_rollout_func(args.env_url, style, index, max_turns=args.max_turns,
                                                         temperature=args.temperature,
                                                         max_new_tokens=args.max_new_tokens, log=episodes,
                                                         unfinished_reward=args.unfinished_reward,
                                                         top_k=args.top_k))
    trainer.train()
    trainer.save_model(os.path.join(args.out, "model"))          # the trained policy, for bridge eval --model
    processor.save_pretrained(os.path.join(args.out, "model"))
    with open(os.path.join(args.out, "episodes.jsonl"), "w") as fh:
        for e in episodes:
            fh.write(json.dumps(e) + "\n")
    with open(os.path.join(args.out, "log_history.json"), "w") as fh:
        json.dump(trainer.state.log_history, fh, indent=1, default=str)
    print(f"online GRPO: {trainer.state.global_step} step(s), {len(episodes)} episode(s) played", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
