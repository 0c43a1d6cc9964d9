"""verl 0.9.1's GRPO step stages on the CPU, in one process (runs INSIDE the verl environment).

    python -m bridge.backends.verl.cpu_stages REQUEST.json

On CPU ``main_ppo`` gets through Ray, worker placement and the actor's FSDP engine and then stops at the rollout:
0.9.1 only has server rollouts (vLLM, SGLang, TensorRT-LLM: ``verl/workers/rollout/base.py:89-93``), none of which
runs here (docs/backends.md, "verl on CPU"). This script runs every stage of a step that does not need one, with
verl's own classes, on a world of one gloo process and verl's CPU platform (:mod:`.cpu_platform`):

1. Hydra composes verl's ``ppo_trainer`` config with the run's overrides (``request.overrides``);
2. ``ActorRolloutRefWorker(role="actor").init_model()``: HFModelConfig, the FSDP2 engine with LoRA, optimizer,
   checkpoint manager (verl/workers/engine_workers.py);

then per step (``data.train_batch_size`` prompts of ``request.completions``):

3. per prompt, ``rollout.n`` completions through verl's single-turn agent loop (``AgentLoopWorker``) with a
   stand-in LLM client that returns the given texts (the one part replaced: the generation itself), each scored by
   the reward manager ``load_reward_manager`` resolves from ``reward.custom_reward_function`` (our module);
4. actor log-probs and reference log-probs (the actor with its LoRA adapter off, as verl does for LoRA runs);
5. ``ray_trainer.compute_advantage`` (GRPO);
6. the actor update. 4 and 6 are the worker calls of verl's legacy trainer (``RayPPOTrainer._compute_old_log_prob``
   / ``_compute_ref_log_prob`` / ``_update_actor``) bound to this worker;

and at the end 7. verl's checkpoint manager saves ``<out>/global_step_<steps>/actor`` (``worker.save_checkpoint``).

Prints ``BRIDGE_STAGES <json>``: the stages reached, rewards, advantages, update metrics, the checkpoint files.
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
KEPT_METRICS = ("actor/pg_loss", "actor/kl_loss", "actor/grad_norm", "actor/lr", "actor/pg_clipfrac")
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

    out = {"stages": [], "timings": []}
    t0 = time.time()

    def stage(name):
        out["stages"].append(name)
        out["timings"].append(round(time.time() - t0, 1))

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
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_advantage
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
    # the legacy trainer's DataProto <-> worker steps (padding -> no-padding TensorDict, meta keys, back), bound
    # to this in-process worker: verl/trainer/ppo/ray_trainer.py _compute_old_log_prob/_compute_ref_log_prob/
    # _update_actor (the v1 trainer runs the same worker calls through the TransferQueue)
    trainer = RayPPOTrainer.__new__(RayPPOTrainer)
    trainer.config, trainer.actor_rollout_wg, trainer.ref_in_actor = cfg, worker, True
    trainer.distillation_config = None
    n = cfg.actor_rollout_ref.rollout.n
    prompts = cfg.data.train_batch_size
    completions = req["completions"]            # per prompt: rollout.n texts; train_batch_size prompts per step
    assert all(len(t) == n for t in completions) and len(completions) % prompts == 0, "rollout.n texts per prompt"
    out["samples"], out["steps"] = [], []
    for step in range(len(completions) // prompts):
        batch = []
        for i in range(step * prompts, (step + 1) * prompts):
            for text in completions[i]:
                client.token_ids = tokenizer.encode(text, add_special_tokens=False)
                gen = loop.run_until_complete(agent.generate_sequences(DataProto.from_single_dict(
                    collate_fn([dataset[i]]))))
                result = loop.run_until_complete(rewards.run_single(gen))
                gen.non_tensor_batch["uid"] = np.array([str(dataset[i]["extra_info"]["id"])], dtype=object)
                score = float(result["reward_score"])
                # an outcome reward sits on the last response token (verl/experimental/agent_loop/agent_loop.py:147)
                scores = torch.zeros_like(gen.batch["responses"], dtype=torch.float32)
                scores[0, int(gen.batch["response_mask"][0].sum()) - 1] = score
                gen.batch["token_level_scores"] = scores
                gen.batch["token_level_rewards"] = scores
                batch.append(gen)
                out["samples"].append({"step": step + 1, "id": gen.non_tensor_batch["uid"][0], "completion": text,
                                       "score": score, "extra": plain(result["reward_extra_info"])})
        batch = DataProto.concat(batch)
        batch.meta_info["temperature"] = cfg.actor_rollout_ref.rollout.temperature   # what generation sets
        # what the legacy fit loop adds before the log-probs (verl/trainer/ppo/ray_trainer.py:1553-1560)
        batch.meta_info["global_token_num"] = torch.sum(batch.batch["attention_mask"], dim=-1).tolist()
        batch.meta_info["images_seqlens"] = [n for mm in batch.non_tensor_batch["multi_modal_inputs"]
                                             if "images_seqlens" in mm for n in mm["images_seqlens"].tolist()]
        stage("agent_loop_and_reward_manager")
        old = trainer._compute_old_log_prob(batch)[0]          # actor log-probs (LoRA on)
        ref = trainer._compute_ref_log_prob(batch)             # reference = the actor with its adapter off
        batch = batch.union(old).union(ref)
        stage("actor_and_ref_log_probs")
        batch = compute_advantage(batch, adv_estimator=cfg.algorithm.adv_estimator, num_repeat=n,
                                  norm_adv_by_std_in_grpo=cfg.algorithm.norm_adv_by_std_in_grpo,
                                  config=cfg.algorithm)
        adv = [float(a[m.bool()][0]) for a, m in zip(batch.batch["advantages"], batch.batch["response_mask"])]
        for s, a in zip(out["samples"][-len(adv):], adv):
            s["advantage"] = a
        stage("advantage")
        metrics = trainer._update_actor(batch).meta_info["metrics"]
        out["steps"].append({"step": step + 1, "log_prob_vs_ref": float(
            (batch.batch["old_log_probs"] - batch.batch["ref_log_prob"]).abs().max()),
            **{k: float(np.mean(plain(v))) for k, v in metrics.items() if k in KEPT_METRICS}})
        stage("update_actor")

    steps = len(out["steps"])
    ckpt = os.path.join(req["out"], f"global_step_{steps}", "actor")
    worker.save_checkpoint(ckpt, None, steps, max_ckpt_to_keep=None)
    out["checkpoint"] = ckpt
    out["checkpoint_files"] = sorted(os.listdir(ckpt))
    stage("save_checkpoint")
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
