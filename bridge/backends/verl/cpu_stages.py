"""verl 0.9.1's GRPO step stages on the CPU, in one process (runs INSIDE the verl environment).

    python -m bridge.backends.verl.cpu_stages REQUEST.json

On CPU ``main_ppo`` gets through Ray, worker placement and the actor's FSDP engine and then stops at the rollout:
0.9.1 only has server rollouts (vLLM, SGLang, TensorRT-LLM: ``verl/workers/rollout/base.py:89-93``), none of which
runs here (docs/backends.md, "verl on CPU"). This script runs every stage of a step that does not need one, with
verl's own classes, on a world of one gloo process and verl's CPU platform (:mod:`.cpu_platform`):

1. Hydra composes verl's ``ppo_trainer`` config with the run's overrides (``request.overrides``);
2. ``ActorRolloutRefWorker(role="actor").init_model()``: HFModelConfig, the FSDP2 engine with LoRA, optimizer,
   checkpoint manager (verl/workers/engine_workers.py);
3. per prompt, ``rollout.n`` completions through verl's single-turn agent loop (``AgentLoopWorker``) with a
   stand-in LLM client that returns the given texts (the one part replaced: the generation itself);
4. the reward manager ``load_reward_manager`` resolves from ``reward.custom_reward_function`` (our module) scores
   each completion;
5. ``core_algos.compute_grpo_outcome_advantage`` turns the scores into group advantages;
6. verl's checkpoint manager saves ``<out>/global_step_<n>/actor`` (``worker.save_checkpoint``).

Prints ``BRIDGE_STAGES <json>``: the stages reached, rewards, advantages, the checkpoint files.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time

ENV = {"VERL_USE_EXTERNAL_MODULES": "bridge.backends.verl.cpu_platform", "VERL_PLATFORM": "cpu",
       # the FSDP engine is registered for cuda/npu only (verl/workers/engine/fsdp/transformer_impl.py:1143);
       # verl's own override of the engine lookup (verl/workers/engine/base.py:404) picks it for the CPU
       "VERL_ENGINE_DEVICE": "cuda", "TOKENIZERS_PARALLELISM": "false"}
#: config for one CPU process: FSDP2 (FSDP1 needs an accelerator device_id), float32, no offload
CPU_OVERRIDES = ["trainer.device=cpu", "trainer.n_gpus_per_node=1", "trainer.nnodes=1",
                 "actor_rollout_ref.actor.strategy=fsdp2", "actor_rollout_ref.ref.strategy=fsdp2",
                 "actor_rollout_ref.actor.fsdp_config.dtype=float32", "actor_rollout_ref.rollout.dtype=float32"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_env() -> None:
    """verl's CPU platform and a one-process gloo world, set before verl is imported."""
    os.environ.update(ENV)
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(free_port()))


def run(req: dict) -> dict:
    setup_env()
    import numpy as np
    import torch

    from bridge.backends.verl.check import StandInClient, compose, plain

    out = {"stages": [], "timings": {}}
    t0 = time.time()

    def stage(name):
        out["stages"].append(name)
        out["timings"][name] = round(time.time() - t0, 1)

    cfg = compose(list(req["overrides"]) + CPU_OVERRIDES)
    stage("compose")

    from verl.utils.device import get_device_name
    from verl.workers.engine_workers import ActorRolloutRefWorker

    out["device"] = get_device_name()
    worker = ActorRolloutRefWorker(cfg.actor_rollout_ref, role="actor")
    worker.init_model()
    out["backend"] = torch.distributed.get_backend()
    module = worker.actor.engine.module
    out["lora_params"] = sorted({n.split(".lora_")[0].rsplit(".", 1)[-1] for n, _ in module.named_parameters()
                                 if "lora_" in n})
    out["visual_lora"] = any("lora_" in n and "visual" in n for n, _ in module.named_parameters())
    stage("worker_init_fsdp_engine")

    from verl import DataProto
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage
    from verl.trainer.ppo.reward import load_reward_manager
    from verl.trainer.ppo.utils import create_rl_dataset
    from verl.utils.config import omega_conf_to_dataclass
    from verl.utils.dataset.rl_dataset import collate_fn
    from verl.utils.ray_utils import get_event_loop

    model_config = omega_conf_to_dataclass(cfg.actor_rollout_ref.model)
    tokenizer, processor = model_config.tokenizer, model_config.processor
    dataset = create_rl_dataset(cfg.data.train_files, cfg.data, tokenizer, processor, is_train=True)
    client = StandInClient()
    agent = AgentLoopWorker(cfg, llm_client=client)
    rewards = load_reward_manager(cfg, tokenizer)
    loop = get_event_loop()
    completions = req["completions"]            # per prompt: rollout.n texts
    scores, index, samples = [], [], []
    for i, texts in enumerate(completions):
        assert len(texts) == cfg.actor_rollout_ref.rollout.n, "one completion per rollout.n"
        for text in texts:
            client.token_ids = tokenizer.encode(text, add_special_tokens=False)
            gen = loop.run_until_complete(agent.generate_sequences(DataProto.from_single_dict(collate_fn([dataset[i]]))))
            result = loop.run_until_complete(rewards.run_single(gen))
            scores.append(float(result["reward_score"]))
            index.append(str(dataset[i]["extra_info"]["id"]))
            samples.append({"id": index[-1], "completion": text, "score": scores[-1],
                            "extra": plain(result["reward_extra_info"]),
                            "response_len": int(gen.batch["responses"].shape[-1])})
    stage("agent_loop")
    stage("reward_manager")

    # outcome rewards sit on the last response token (verl/trainer/ppo/core_algos.py: scores = rewards.sum(-1))
    mask = torch.ones(len(scores), 1)
    adv, _ = compute_grpo_outcome_advantage(torch.tensor(scores).unsqueeze(-1), mask, np.array(index, dtype=object),
                                            norm_adv_by_std_in_grpo=cfg.algorithm.norm_adv_by_std_in_grpo)
    for s, a in zip(samples, adv[:, 0].tolist()):
        s["advantage"] = a
    stage("advantage")

    ckpt = os.path.join(req["out"], f"global_step_{req.get('step', 1)}", "actor")
    worker.save_checkpoint(ckpt, None, req.get("step", 1), max_ckpt_to_keep=None)
    out["checkpoint"] = ckpt
    out["checkpoint_files"] = sorted(os.listdir(ckpt))
    stage("save_checkpoint")
    out["samples"] = samples
    torch.distributed.destroy_process_group()
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as f:
        req = json.load(f)
    report = run(req)
    print("BRIDGE_STAGES " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
