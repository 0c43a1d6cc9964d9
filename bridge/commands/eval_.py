import click

from ..environments import ENVIRONMENTS
from ._values import complete_style

#: bridge.metrics.PROFILES, spelled out so that `bridge --help` does not import the metrics (checked by a test)
PROFILE_NAMES = ("aitw", "androidcontrol", "agentcpm", "agentcpm-ac", "gui-r1", "gui-r1-strict", "gui-odyssey",
                 "screenspot")


@click.command("eval")
@click.argument("dataset", required=False, type=click.Path(file_okay=False, path_type=str))
@click.option("--style", "style_name", shell_complete=complete_style,
              help="Style the completions are written in (e.g. qwen2vl).")
@click.option("--profile", type=click.Choice(PROFILE_NAMES),
              help="Published step-matching rule to apply (see docs/eval.md); offline only.")
@click.option("--predictions", type=click.Path(dir_okay=False, path_type=str),
              help='JSON Lines of {"id": "<episode_id>/<step>", "completion": "..."}.')
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=str),
              help="Local transformers model directory to generate with (greedy).")
@click.option("--endpoint", help="OpenAI-compatible server (http://host:port[/v1[/chat/completions]]).")
@click.option("--save-predictions", type=click.Path(dir_okay=False, path_type=str),
              help="Write what the model / endpoint produced (same format as --predictions).")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1), help="--model: prompts per batch.")
@click.option("--max-new-tokens", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--device", default="auto", show_default=True, help="--model: auto, cpu, cuda, cuda:1, ...")
@click.option("--model-name", help="--endpoint: served model name (default: the first one GET /v1/models lists).")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(min=1), help="--endpoint: requests in flight.")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="--endpoint: seconds per request.")
@click.option("--retries", default=2, show_default=True, type=click.IntRange(min=0),
              help="--endpoint: retries of a request on connection errors, time-outs, 429 and 5xx.")
@click.option("--api-key", envvar="OPENAI_API_KEY", help="--endpoint: bearer token (default $OPENAI_API_KEY).")
@click.option("--history", default=None, type=click.IntRange(min=0), help="Prompt: previous steps described.")
@click.option("--think/--no-think", default=None, help="Prompt: ask for <think>…</think> first.")
@click.option("--prev-image/--no-prev-image", default=None, help="Prompt: also show the previous screenshot.")
@click.option("--min-pixels", type=click.IntRange(min=1), help="Smart-resize bounds of the model's processor "
              "(--model reads them from the processor).")
@click.option("--max-pixels", type=click.IntRange(min=1))
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate only the first N episodes.")
@click.option("--synthetic-steps", type=click.Choice(["profile", "score", "skip"]), default="profile",
              show_default=True, help="Score steps an importer synthesised (meta.synthetic, e.g. AndroidControl's "
              "terminal status)? 'profile': as the profile's published set does (androidcontrol skips them).")
@click.option("--parse", "parse_mode", type=click.Choice(["profile", "publisher", "style"]), default="profile",
              show_default=True, help="'publisher': parse completions exactly as the profile's publisher does "
              "(agentcpm, agentcpm-ac); 'style': the style's lenient parser; 'profile': the profile's default.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of a table.")
@click.option("--per-step", is_flag=True, help="With --json: include one verdict per step.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@click.option("--env", "env_name", type=click.Choice(sorted(ENVIRONMENTS)),
              help="Online: play whole episodes in this live environment (MiniWoB++ in headless Chromium) instead "
                   "of scoring a DATASET.")
@click.option("--tasks", help="--env: comma-separated tasks [default: every task with an oracle].")
@click.option("--episodes", type=click.IntRange(min=1), default=10, show_default=True, help="--env: episodes per task.")
@click.option("--seed", type=int, default=1000, show_default=True,
              help="--env: first episode seed (`bridge synth --env` records from seed 0: disjoint by default).")
@click.option("--policy", type=click.Choice(["oracle", "random"]), help="--env: play a baseline policy "
              "instead of --model/--endpoint.")
@click.option("--baselines/--no-baselines", default=True, show_default=True,
              help="--env with --model/--endpoint: also play the random and oracle policies on the same episodes.")
@click.option("--pool", "pool_size", type=click.IntRange(min=1), default=2, show_default=True,
              help="--env: browsers playing in parallel.")
@click.option("--max-turns", type=click.IntRange(min=1), default=10, show_default=True,
              help="--env: turns per episode.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True),
              help="--env: seconds per episode, replacing the tasks' own limit (MiniWoB: 10 s); slow models need more.")
@click.option("--reward", type=click.Choice(["raw", "decayed"]), default="raw", show_default=True,
              help="--env: MiniWoB's raw task reward, or its reward decayed by the time taken.")
@click.option("--temperature", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="--env with --model/--endpoint: sample the model's answers at this temperature (whole "
                   "vocabulary) instead of greedy decoding — the policy online GRPO trains.")
@click.option("--save-episodes", type=click.Path(dir_okay=False, path_type=str),
              help="--env: write every played episode (completions, actions, rewards) as JSON Lines.")
def command(dataset, style_name, profile, predictions, model_dir, endpoint, save_predictions, batch_size,
            max_new_tokens, device, model_name, concurrency, timeout, retries, api_key, history, think,
            prev_image, min_pixels, max_pixels, limit, synthetic_steps, parse_mode, as_json, per_step, progress,
            env_name, tasks, episodes, seed, policy, baselines, pool_size, max_turns, time_limit, reward,
            temperature, save_episodes):
    """Offline metrics of a model on a canonical DATASET: type accuracy, grounding accuracy, step success,
    per action type, episode success and goal progress under a published --profile.

    \b
    Completions come from exactly one of:
      --predictions FILE.jsonl   saved completions
      --model DIR                a local transformers model (batched greedy generate, CPU or GPU)
      --endpoint URL             an OpenAI-compatible chat server (vLLM, ...), images as base64 data URLs
    Missing and unparsable predictions count as wrong and are reported separately.

    \b
    Online, with --env miniwob (no DATASET): the model (--model or --endpoint, prompted and parsed by --style)
    or a --policy plays --episodes whole episodes of each task; reported per task: success rate and mean
    reward, beside the random and oracle policies on the same seeds.
    """
    import itertools
    import json

    from ..errors import BridgeError

    if env_name:
        from ._online_eval import run_online

        if dataset or predictions or profile or save_predictions:
            raise BridgeError("--env plays episodes online: DATASET, --predictions, --profile and "
                              "--save-predictions apply to offline evaluation only")
        run_online(env_name=env_name, tasks=tasks, episodes=episodes, seed=seed, policy=policy,
                   baselines=baselines, pool_size=pool_size, max_turns=max_turns, time_limit=time_limit,
                   reward=reward, save_episodes=save_episodes, style_name=style_name, model_dir=model_dir,
                   endpoint=endpoint, model_name=model_name, device=device, max_new_tokens=max_new_tokens,
                   timeout=timeout, retries=retries, api_key=api_key,
                   prompt=dict(history=history, think=think, prev_image=prev_image, min_pixels=min_pixels,
                               max_pixels=max_pixels), as_json=as_json, progress=progress,
                   temperature=temperature)
        return
    online_only = [n for n, v in (("--tasks", tasks), ("--policy", policy), ("--time-limit", time_limit),
                                  ("--save-episodes", save_episodes),
                                  ("--temperature", temperature)) if v]
    if online_only:
        raise BridgeError(f"{', '.join(online_only)} only apply with --env")
    for name, value in (("DATASET", dataset), ("--style", style_name), ("--profile", profile)):
        if not value:
            raise click.UsageError(f"missing {name} (offline evaluation needs DATASET, --style and --profile)")

    from ..dataset import open_dataset
    from ..metrics import evaluate

    sources = [n for n, v in (("--predictions", predictions), ("--model", model_dir), ("--endpoint", endpoint)) if v]
    if len(sources) != 1:
        raise BridgeError("give exactly one of --predictions, --model or --endpoint"
                          + (f" (got {', '.join(sources)})" if sources else ""))
    if save_predictions and predictions:
        raise BridgeError("--save-predictions only applies to --model and --endpoint")
    if per_step and not as_json:
        raise BridgeError("--per-step only applies with --json")
    from ._args import check_pixels

    check_pixels(min_pixels, max_pixels)
    if save_predictions:
        from pathlib import Path

        parent = Path(save_predictions).absolute().parent
        if not parent.is_dir():   # found out before generating, not after
            raise BridgeError(f"{save_predictions}: directory {parent} does not exist")
    ds = open_dataset(dataset)
    episodes = list(itertools.islice(ds, limit)) if limit else None
    policy = None
    if not predictions:  # images are read (--model) or uploaded (--endpoint): the path policy first
        from ..paths import check_dataset_images

        policy = check_dataset_images(ds, episodes)

    processor = None
    if model_dir:
        from ..evaluate import load_processor, processor_pixels

        processor = load_processor(model_dir)
        lo, hi = processor_pixels(processor)
        min_pixels, max_pixels = min_pixels or lo, max_pixels or hi
    style = _make_style(style_name, history=history, think=think, prev_image=prev_image,
                        min_pixels=min_pixels, max_pixels=max_pixels)

    failures: dict[str, str] = {}
    if predictions:
        from ..metrics.predictions import read_predictions

        completions = read_predictions(predictions)
        if episodes is not None:   # predictions for the episodes --limit leaves out are not "unexpected"
            from ..metrics import step_id

            kept = {step_id(ep.episode_id, st.index) for ep in episodes for st in ep.steps}
            skipped = {step_id(ep.episode_id, st.index) for ep in ds for st in ep.steps} - kept
            completions = {k: v for k, v in completions.items() if k not in skipped}
    else:
        from ..evaluate import build_jobs, check_images

        jobs = build_jobs(episodes if episodes is not None else ds, style, ds.image_resolver())
        check_images(jobs, policy)  # exist and are images: before generating or sending anything
        if model_dir:
            from ..evaluate import generate_with_model

            completions = generate_with_model(model_dir, jobs, processor=processor, batch_size=batch_size,
                                              max_new_tokens=max_new_tokens, device=device, progress=progress)
        else:
            from ..evaluate import generate_with_endpoint, resolve_model_name

            name = model_name or resolve_model_name(endpoint, api_key, min(timeout, 30.0))
            completions, failures = generate_with_endpoint(
                endpoint, jobs, model_name=name, concurrency=concurrency, max_new_tokens=max_new_tokens,
                timeout=timeout, retries=retries, api_key=api_key, progress=progress)
        if save_predictions:
            from ..metrics.predictions import write_predictions

            write_predictions(save_predictions, ((j.id, completions[j.id]) for j in jobs if j.id in completions))

    report = evaluate(episodes if episodes is not None else ds, completions, style, profile,
                      synthetic={"profile": None, "score": True, "skip": False}[synthetic_steps],
                      strict={"profile": None, "publisher": True, "style": False}[parse_mode])
    report.meta = {"dataset": str(dataset), "source": sources[0].lstrip("-"), "frame": style.frame().to_dict(),
                   **({"limit_episodes": limit} if limit else {}),
                   **({"request_failures": len(failures)} if failures else {})}
    if failures:
        jid, err = next(iter(failures.items()))
        click.echo(f"warning: {len(failures)} request(s) failed and count as missing; e.g. {jid}: {err}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(per_step=per_step), indent=2, ensure_ascii=False))
    else:
        click.echo(report.render())


def _make_style(name: str, **opts):
    """A style instance from the registry, with the prompt options the user set (others keep the defaults)."""
    import dataclasses

    from ..styles import get_style
    from ..styles.base import PromptOptions

    given = {k: v for k, v in opts.items() if v is not None}
    return get_style(name, dataclasses.replace(PromptOptions(), **given))   # BridgeError if unknown
