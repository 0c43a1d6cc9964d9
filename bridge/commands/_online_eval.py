"""``bridge eval --env ...``: online evaluation (a helper of bridge/commands/eval_.py, not a command)."""
from __future__ import annotations

import contextlib
import json
import sys

import click

from ..errors import BridgeError


def run_online(*, env_name, tasks, episodes, seed, policy, baselines, pool_size, max_turns, time_limit, reward,
               save_episodes, style_name, model_dir, endpoint, model_name, device, max_new_tokens, timeout,
               retries, api_key, prompt, as_json, progress, temperature=0.0) -> None:
    from ..environments import make_pool
    from ..environments.miniwob import check_tasks
    from ..environments.online import evaluate_online
    from ..environments.oracles import ORACLES
    from ..environments.policies import ModelPolicy, OraclePolicy, RandomPolicy
    from .synth import split_tasks

    sources = [n for n, v in (("--policy", policy), ("--model", model_dir), ("--endpoint", endpoint)) if v]
    if len(sources) != 1:
        raise BridgeError("--env needs exactly one of --model, --endpoint or --policy"
                          + (f" (got {', '.join(sources)})" if sources else ""))
    if policy and temperature:
        raise BridgeError("--temperature samples a model's answers: it needs --model or --endpoint, not --policy")
    if (model_dir or endpoint) and not style_name:
        raise BridgeError("--model/--endpoint need --style: it renders the prompt and parses the answer")
    names = check_tasks(split_tasks(tasks)) if tasks else sorted(ORACLES)
    if save_episodes:
        from pathlib import Path

        if not Path(save_episodes).absolute().parent.is_dir():
            raise BridgeError(f"{save_episodes}: directory {Path(save_episodes).absolute().parent} does not exist")

    policies = []
    model_policy = None
    if policy:
        policies.append(OraclePolicy() if policy == "oracle" else RandomPolicy(seed))
    else:
        from .eval_ import _make_style
        from ..environments.policies import endpoint_generator, local_generator

        processor = None
        if model_dir:
            from ..evaluate import load_processor, processor_pixels

            processor = load_processor(model_dir)
            lo, hi = processor_pixels(processor)
            prompt = {**prompt, "min_pixels": prompt.get("min_pixels") or lo,
                      "max_pixels": prompt.get("max_pixels") or hi}
        style = _make_style(style_name, **prompt)
        if model_dir:
            generate = local_generator(model_dir, device=device, max_new_tokens=max_new_tokens, processor=processor,
                                       temperature=temperature)
        else:
            generate = endpoint_generator(endpoint, model_name=model_name, max_new_tokens=max_new_tokens,
                                          timeout=timeout, retries=retries, api_key=api_key,
                                          temperature=temperature)
        model_policy = ModelPolicy(style, generate, name="model")
        policies.append(model_policy)
        if baselines:
            policies += [RandomPolicy(seed), OraclePolicy()]

    from ..evaluate import _progress

    total = len(policies) * len(names) * episodes
    options = {"max_turns": max_turns, "reward": reward, "time_limit_s": time_limit}
    try:
        with contextlib.ExitStack() as stack:
            pool = stack.enter_context(make_pool(env_name, size=min(pool_size, len(names) * episodes), **options))
            save = stack.enter_context(open(save_episodes, "w", encoding="utf-8")) if save_episodes else None
            bar = stack.enter_context(_progress(total, "episodes", progress))
            report = evaluate_online(pool, names, episodes, policies, seed=seed, save=save, progress=bar.update)
    finally:
        if model_policy is not None:
            model_policy.close()
    report.meta.update({"environment": env_name, "reward": reward, "max_turns": max_turns,
                        "time_limit_s": time_limit, "source": sources[0].lstrip("-"),
                        **({"temperature": temperature} if temperature else {}),
                        **({"style": style_name} if model_policy else {})})
    if model_policy is not None and model_policy.failures:
        report.meta["request_failures"] = model_policy.failures
        click.echo(f"warning: {model_policy.failures} generation(s) failed; those turns had no action", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.render())
    sys.stdout.flush()
