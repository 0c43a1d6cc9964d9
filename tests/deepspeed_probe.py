"""Run INSIDE a backend environment (tests/test_deepspeed_configs.py): fill a DeepSpeed config's "auto" values as
transformers' Trainer does and parse it with DeepSpeed's own ``DeepSpeedConfig``; print what DeepSpeed made of it.

stdin: JSON list of cases ``{"source": {"json": DICT} | {"file": PATH} | {"swift": "zero2"} | {"accelerate": ARGV},
"args": {TrainingArguments fields}, "world_size": N, "hidden_size": H, "steps": S}``; stdout: one JSON list.
"""
import json
import os
import socket
import sys
import types
from importlib.util import find_spec


def accelerate_config(argv):
    """The config the training process builds under ``accelerate launch ARGV --use_deepspeed --zero_stage N``:
    the launcher's environment (accelerate/utils/launch.py ``prepare_deepspeed_cmd_env``), then
    ``DeepSpeedPlugin()`` + ``set_mixed_precision`` as TrainingArguments does
    (transformers/training_args.py:1716-1720)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DeepSpeedPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    args, defaults, mp_from_config = _validate_launch_command(launch_command_parser().parse_args(argv))
    # as launch_command does before deepspeed_launcher (accelerate/commands/launch.py:1393-1397)
    fields = list(defaults.deepspeed_config.keys()) if defaults else []
    args.deepspeed_fields_from_accelerate_config = ",".join(fields + (["mixed_precision"] if mp_from_config else []))
    _, env = prepare_deepspeed_cmd_env(args)
    os.environ.update({k: v for k, v in env.items() if k.startswith("ACCELERATE_")})
    plugin = DeepSpeedPlugin()
    plugin.set_mixed_precision(os.environ.get("ACCELERATE_MIXED_PRECISION", "no"))
    return plugin.deepspeed_config


def source(src):
    if "json" in src:
        return src["json"]
    if "file" in src:
        return json.load(open(src["file"]))
    if "swift" in src:    # --deepspeed zero2|zero3 -> swift/config/<name>.json (swift/arguments/sft_args.py:260-268)
        folder = os.path.join(list(find_spec("swift").submodule_search_locations)[0], "config")
        return json.load(open(os.path.join(folder, src["swift"] + ".json")))
    return accelerate_config(src["accelerate"])


def autos(d, prefix=""):
    """Dotted keys still "auto" after the Trainer's filling."""
    out = []
    for k, v in d.items():
        out += autos(v, f"{prefix}{k}.") if isinstance(v, dict) else [prefix + k] if v == "auto" else []
    return out


def main():
    cases = json.load(sys.stdin)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # one CPU process group, so DeepSpeedConfig asks the mpu below for the data-parallel size
    # (deepspeed/runtime/config.py DeepSpeedConfig.__init__: dist.get_rank() first, else world size 1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
    import deepspeed
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    from deepspeed.accelerator import get_accelerator

    # without this DeepSpeed's CPU backend JIT-compiles its shared-memory all-reduce op on first use (~90 s of
    # C++ here; deepspeed/comm/torch.py build_shm_op), which parsing a config never needs
    shm = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if shm is not None:
        deepspeed.ops.__compatible_ops__[shm.NAME] = False
    deepspeed.init_distributed(dist_backend="gloo", verbose=False)
    out = []
    for case in cases:
        a = case["args"]
        args = types.SimpleNamespace(world_size=case["world_size"], save_on_each_node=False, fp16_full_eval=False,
                                     bf16_full_eval=False, fp16_backend="auto", fp16_opt_level="O1",
                                     get_warmup_steps=lambda n: 0, **a)
        raw = source(case["source"])
        hf = HfTrainerDeepSpeedConfig(raw)          # what the Trainer fills: trainer_config_process / _finalize
        hf.trainer_config_process(args)
        model = types.SimpleNamespace(config=types.SimpleNamespace(hidden_size=case["hidden_size"]))
        hf.trainer_config_finalize(args, model, case["steps"])
        mpu = types.SimpleNamespace(get_data_parallel_world_size=lambda: case["world_size"])
        c = DeepSpeedConfig(hf.config, mpu=mpu)
        # 0.18+ keeps precision in float16_config / bfloat16_config (deepspeed/runtime/config.py:509-510 in 0.19.8)
        new = hasattr(c, "bfloat16_config")
        bf16 = c.bfloat16_config.enabled if new else c.bfloat16_enabled
        fp16 = c.float16_config.enabled if new else c.fp16_enabled
        out.append({"stage": int(c.zero_optimization_stage), "train_batch_size": c.train_batch_size,
                    "micro": c.train_micro_batch_size_per_gpu, "grad_accum": c.gradient_accumulation_steps,
                    "world_size": c.world_size, "bf16": bool(bf16), "fp16": bool(fp16),
                    "gradient_clipping": c.gradient_clipping, "deepspeed": deepspeed.__version__,
                    "autos": autos(hf.config)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
