"""Backend-side check for verl 0.9.1 (runs INSIDE its environment with its interpreter).
Protocol: bridge/backends/check.py.

Everything below is verl's own code on our files, in the order ``main_ppo`` uses it; only the LLM is replaced:

1. Hydra composes verl's installed ``ppo_trainer`` config with the rendered overrides (an unknown key fails here),
   then ``verl.utils.config.validate_config`` — main_ppo's own checks — runs on the result;
2. ``HFModelConfig`` loads the tokenizer and processor, ``create_rl_dataset`` builds the ``RLHFDataset`` from our
   parquet (``loaded`` = its length; a row it filters or cannot read is a drop);
3. per sample, the collated batch goes through ``AgentLoopWorker.generate_sequences`` — the single-turn agent loop
   that tokenises in 0.9.1 (qwen_vl_utils resize, chat template, processor placeholders, multi-modal inputs) — with
   a stand-in LLM client that "generates" the given completion (request ``completions``: {sample id: [text]},
   default: the exported target);
4. the reward manager from ``verl.trainer.ppo.reward.load_reward_manager`` (resolving
   ``reward.custom_reward_function.path/name``, i.e. our generated module) scores each generated batch.

Prints one ``BRIDGE_CHECK <json>`` line; besides the protocol fields it reports ``compose``, ``validate``,
``config`` (resolved values) and per sample ``grid_thw`` and ``rewards`` [{completion, decoded, score, extra}].
"""
import os
import traceback

from bridge.backends.inenv import run, runs

REPORTED_KEYS = (
    "algorithm.adv_estimator", "data.max_prompt_length", "data.max_response_length", "data.train_batch_size",
    "data.image_patch_size", "data.mm_processor_kwargs", "actor_rollout_ref.model.path",
    "actor_rollout_ref.model.lora_rank", "actor_rollout_ref.model.lora_alpha", "actor_rollout_ref.model.target_modules",
    "actor_rollout_ref.model.exclude_modules", "actor_rollout_ref.actor.freeze_vision_tower",
    "actor_rollout_ref.model.override_config.attn_implementation", "actor_rollout_ref.model.use_remove_padding",
    "actor_rollout_ref.actor.loss_agg_mode", "actor_rollout_ref.actor.kl_loss_coef",
    "actor_rollout_ref.rollout.name", "actor_rollout_ref.rollout.n", "actor_rollout_ref.rollout.prompt_length",
    "actor_rollout_ref.rollout.tensor_model_parallel_size", "reward.custom_reward_function.path",
    "reward.custom_reward_function.name", "reward.reward_manager.name", "trainer.n_gpus_per_node", "trainer.nnodes",
    "trainer.logger", "trainer.project_name")






def plain(value):
    """numpy / OmegaConf / tensor values -> JSON-able Python."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value




def compose(lines):
    import verl.trainer
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_dir = os.path.join(os.path.dirname(verl.trainer.__file__), "config")   # main_ppo's config_path
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=lines)


def validate(cfg):
    """main_ppo's validate_config. Its last step imports vLLM to round the LoRA rank; where vLLM is not installed
    (CPU machines) that one lookup is skipped by validating with another rollout name, and the report says so."""
    import importlib.util

    from omegaconf import OmegaConf, open_dict
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    note = "ok"
    target = cfg
    if cfg.actor_rollout_ref.rollout.name == "vllm" and importlib.util.find_spec("vllm") is None:
        target = OmegaConf.create(OmegaConf.to_container(cfg))
        with open_dict(target):
            target.actor_rollout_ref.rollout.name = "sglang"
        note = "ok (vllm not installed here: its LoRA-rank table lookup was skipped)"
    validate_config(config=target, use_reference_policy=need_reference_policy(target), use_critic=need_critic(target))
    return note


class StandInClient:
    """Replaces the LLM server: ``generate`` returns the token ids of the completion under test."""

    def __init__(self):
        self.token_ids = []
        self.requests = []

    async def generate(self, request_id, prompt_ids, sampling_params, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        self.requests.append({"prompt_len": len(prompt_ids), "images": len(kwargs.get("image_data") or [])})
        return TokenOutput(token_ids=list(self.token_ids), log_probs=[0.0] * len(self.token_ids),
                           stop_reason="completed")


def image_paths(row_images, workdir, index):
    """The files behind a row's images (embedded bytes are written out so bridge can read their sizes)."""
    out = []
    for k, img in enumerate(row_images or []):
        if img.get("image"):
            out.append(img["image"])
            continue
        path = os.path.join(workdir, "images", f"{index}_{k}.img")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(img["bytes"])
        out.append(path)
    return out


def check(req, report):
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf

    with open(req["config"]["overrides"], encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    try:
        cfg = compose(lines)
    except Exception as e:
        report["compose"] = {"ok": False, "overrides": len(lines), "error": f"{type(e).__name__}: {e}"}
        report["errors"].append(f"Hydra could not compose the overrides with verl's config: {e}")
        return
    report["compose"] = {"ok": True, "overrides": len(lines)}
    report["config"] = {k: plain(OmegaConf.to_container(v) if OmegaConf.is_config(v) else v)
                        for k in REPORTED_KEYS for v in [OmegaConf.select(cfg, k)]}
    try:
        report["validate"] = validate(cfg)
    except Exception as e:
        traceback.print_exc()
        report["validate"] = f"failed: {type(e).__name__}: {e}"
        report["errors"].append(f"verl's validate_config refused the config: {e}")

    files = list(cfg.data.train_files)
    rows = [r for p in files for r in pq.read_table(p).to_pylist()]
    report["samples_in"] = len(rows)

    from verl import DataProto
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.trainer.ppo.reward import load_reward_manager
    from verl.trainer.ppo.utils import create_rl_dataset
    from verl.utils.config import omega_conf_to_dataclass
    from verl.utils.dataset.rl_dataset import collate_fn
    from verl.utils.ray_utils import get_event_loop

    model_config = omega_conf_to_dataclass(cfg.actor_rollout_ref.model)
    tokenizer, processor = model_config.tokenizer, model_config.processor
    # what verl's HFModelConfig resolved (verl/workers/config/model.py): the attention the actor loads with
    report["config"]["hf_config._attn_implementation"] = getattr(model_config.hf_config, "_attn_implementation", None)
    if processor is None:
        raise RuntimeError("verl loaded no multimodal processor for " + str(cfg.actor_rollout_ref.model.path))
    dataset = create_rl_dataset(cfg.data.train_files, cfg.data, tokenizer, processor, is_train=True,
                                max_samples=cfg.data.get("train_max_samples", -1))
    kept_ids = [(e or {}).get("id") for e in dataset.dataframe["extra_info"]]
    for i, r in enumerate(rows):
        rid = r["extra_info"]["id"]
        if rid not in kept_ids:
            report["dropped"].append({"index": i, "id": rid, "reason": "not in verl's RLHFDataset (filtered)"})
    loaded = len(dataset)

    client = StandInClient()
    worker = AgentLoopWorker(cfg, llm_client=client)
    reward_manager = load_reward_manager(cfg, tokenizer)
    loop = get_event_loop()
    image_token = getattr(processor, "image_token", "<|image_pad|>")
    image_token_id = tokenizer.convert_tokens_to_ids(image_token)
    completions = req.get("completions") or {}
    limit = req.get("limit")
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for i in range(n):
        sid = kept_ids[i]
        try:
            row = dataset.dataframe[i]
            item = dataset[i]
            placeholders = sum(1 for m in item["raw_prompt"] if isinstance(m.get("content"), list)
                               for b in m["content"] if isinstance(b, dict) and b.get("type") == "image")
            entry = {"index": i, "id": sid, "images": image_paths(row["images"], req["workdir"], i),
                     "placeholders": placeholders, "rewards": []}
            for text in completions.get(sid) or [item["extra_info"]["target"]]:
                client.token_ids = tokenizer.encode(text, add_special_tokens=False)
                batch = DataProto.from_single_dict(collate_fn([dataset[i]]))
                out = loop.run_until_complete(worker.generate_sequences(batch))
                if "image_tokens" not in entry:
                    mask = out.batch["attention_mask"][0].tolist()
                    prompt_ids = [t for t, m in zip(out.batch["prompts"][0].tolist(), mask) if m]
                    mm = out.non_tensor_batch["multi_modal_inputs"][0]
                    entry.update(image_tokens=runs(prompt_ids, image_token_id), input_len=len(prompt_ids),
                                 grid_thw=plain(mm.get("image_grid_thw")) if mm else [],
                                 position_ids_shape=list(out.batch["position_ids"].shape))
                    if i == 0:
                        report["first"] = {"prompt": tokenizer.decode(prompt_ids, skip_special_tokens=False),
                                           "target": item["extra_info"]["target"],
                                           "ground_truth": item["reward_model"]["ground_truth"]}
                result = loop.run_until_complete(reward_manager.run_single(out))
                response = out.batch["responses"][0]
                valid = int(out.batch["attention_mask"][0][-response.shape[-1]:].sum())
                entry["rewards"].append({"completion": text,
                                         "decoded": tokenizer.decode(response[:valid], skip_special_tokens=True),
                                         "score": plain(result["reward_score"]),
                                         "extra": plain(result["reward_extra_info"])})
            report["samples"].append(entry)
        except Exception as e:
            traceback.print_exc()
            loaded -= 1
            report["dropped"].append({"index": i, "id": sid, "reason": f"{type(e).__name__}: {e}"})
    report["loaded"] = loaded


if __name__ == "__main__":
    run("verl", ("verl", "transformers", "torch", "qwen-vl-utils", "hydra-core", "ray", "vllm"), check, compose=None, validate=None, config={})
