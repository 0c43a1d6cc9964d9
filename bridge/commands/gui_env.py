import click

from ..environments import ENVIRONMENTS   # a plain dict: imports no environment code


@click.group("gui-env")
def command():
    """Live GUI environments (MiniWoB++ in headless Chromium): list tasks, check the browser set-up.

    \b
    Data and evaluation from them:
      bridge synth data/miniwob --env miniwob --tasks click-test-2,enter-text --episodes 20
      bridge eval --env miniwob --tasks click-test-2 --episodes 20 --model DIR --style qwen2vl
    (`bridge env` manages the trainers' virtualenvs, a different thing.)
    """


@command.command("tasks")
@click.option("--env", "env_name", type=click.Choice(sorted(ENVIRONMENTS)), default="miniwob", show_default=True)
@click.option("--oracle-only", is_flag=True, help="Only the tasks with a scripted oracle.")
def tasks_cmd(env_name, oracle_only):
    """The environment's tasks; `oracle` marks those `bridge synth --env` can record."""
    from ..environments.miniwob import task_names
    from ..environments.oracles import ORACLES

    for name in task_names():
        if name in ORACLES or not oracle_only:
            click.echo(f"{name:<30s}{'oracle' if name in ORACLES else ''}".rstrip())


@command.command("check")
@click.option("--env", "env_name", type=click.Choice(sorted(ENVIRONMENTS)), default="miniwob", show_default=True)
@click.option("--task", default="click-test-2", show_default=True)
def check_cmd(env_name, task):
    """Start a browser, play one oracle episode and report versions and timings (exit 2 with the missing
    Debian package named when Chromium or its driver is absent)."""
    import time

    from ..environments import make_env
    from ..environments.policies import OraclePolicy
    from ..environments.rollout import run_episode

    t0 = time.perf_counter()
    with make_env(env_name, task=task) as env:
        caps = env.browser.driver.capabilities
        t1 = time.perf_counter()
        result = run_episode(env, OraclePolicy(), task, 0)
        t2 = time.perf_counter()
        env.reset(seed=1)
        t3 = time.perf_counter()
    click.echo(f"browser     {caps.get('browserName')} {caps.get('browserVersion')} "
               f"(chromedriver {caps.get('chrome', {}).get('chromedriverVersion', '?').split(' ')[0]})")
    click.echo(f"start       {t1 - t0:.2f} s")
    click.echo(f"episode     {task} seed 0: {'success' if result.success else 'FAILED'} in {len(result.turns)} "
               f"turn(s), {t2 - t1:.2f} s (first page load included)")
    click.echo(f"reset       {t3 - t2:.2f} s")
    if not result.success:
        raise click.exceptions.Exit(1)


@command.command("serve")
@click.option("--env", "env_name", type=click.Choice(sorted(ENVIRONMENTS)), default="miniwob", show_default=True)
@click.option("--pool", "pool_size", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8765, show_default=True)
@click.option("--max-turns", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), help="Seconds per episode (MiniWoB: 10).")
@click.option("--reward", type=click.Choice(["raw", "decayed"]), default="raw", show_default=True)
def serve_cmd(env_name, pool_size, host, port, max_turns, time_limit, reward):
    """Serve episodes over HTTP to trainers in other virtualenvs (online GRPO: bridge/environments/trl_grpo.py)
    until Ctrl-C; the browsers go with it."""
    import signal
    import time

    from ..environments.server import serving

    # Stop on Ctrl-C / kill -INT / kill (TERM) however the server was started: a background job of a
    # non-interactive shell starts with SIGINT ignored, and Python keeps an inherited "ignore"
    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with serving(env_name, pool_size, host, port, max_turns=max_turns, reward=reward, time_limit_s=time_limit) as url:
        click.echo(f"serving {env_name} ({pool_size} browser(s)) at {url}", err=True)
        while True:
            time.sleep(3600)
