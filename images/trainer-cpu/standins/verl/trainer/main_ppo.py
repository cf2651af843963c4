"""CPU stand-in for veRL 0.6.0's PPO entry point (images/trainer-cpu/README.md).

What it keeps of `python3 -m verl.trainer.main_ppo <overrides>`: Hydra composes veRL's own ppo_trainer.yaml with the
overrides (an unknown key fails as it would); the driver joins the Ray cluster the launch script started and runs a
TaskRunner actor; the TaskRunner asks Ray for one bundle of n_gpus_per_node GPUs on each of nnodes nodes and places
a rollout worker in each, which plays the CollabLLM samples of its share of every batch against the user simulator
and the judge through litellm, as the recipe's agent loop and reward manager do on that node; the fit loop is
RayPPOTrainer.fit's (steps, epochs, validation, checkpoints, ESI saves, resume from the tracker file with the
dataloader's state, the last step); the console logger's step lines, "Total training steps: N", the checkpoint
layout, and the exit codes. What it does not do: load the model, generate with vLLM, compute gradients.
"""

import asyncio
import importlib
import importlib.util
import os
import socket
import threading
import time
from pprint import pprint

import hydra
import pyarrow.parquet as pq
import ray
from omegaconf import OmegaConf

from collab_cpu import (
    TRACKER,
    StatefulLoader,
    find_latest_ckpt_path,
    hf_model_dir,
    log_step,
    read_json,
    should_save_ckpt_esi,
    write_json,
)


@hydra.main(config_path="config", config_name="ppo_trainer", version_base=None)
def main(config):
    run_ppo(config)


def run_ppo(config):
    watch_faults()
    if not ray.is_initialized():
        # main_ppo.py run_ppo: ray_kwargs.ray_init, with veRL's runtime env under the user's.
        default_runtime_env = {"env_vars": {"TOKENIZERS_PARALLELISM": "true", "NCCL_DEBUG": "WARN"}}
        ray_init_kwargs = config.ray_kwargs.get("ray_init", {})
        runtime_env = OmegaConf.merge(default_runtime_env, ray_init_kwargs.get("runtime_env", {}))
        ray_init_kwargs = OmegaConf.create({**ray_init_kwargs, "runtime_env": runtime_env})
        print(f"ray init kwargs: {ray_init_kwargs}", flush=True)
        ray.init(**OmegaConf.to_container(ray_init_kwargs))
    runner = TaskRunner.remote()
    ray.get(runner.run.remote(OmegaConf.to_container(config, resolve=True)))


# Test hook (README.md, "Faults on demand"): a file the tests write on the job's volume, taken once.
FAULTS = "/collab/.collab-cpu-faults.json"


TAKEN = f"{FAULTS}.taken"


def fault_in_progress():
    """Whether this attempt took a fault: its training stops where it is, so what the fault ends is the step it hit."""
    try:
        return read_json(TAKEN).get("attempt") == os.environ.get("COLLAB_ATTEMPT")
    except (OSError, ValueError):
        return False


def watch_faults():
    """{"oom": true}: the driver allocates memory until the kernel kills it at the container's memory limit."""

    def watch():
        while True:
            time.sleep(0.5)
            try:
                os.rename(FAULTS, TAKEN)
            except OSError:
                continue
            fault = read_json(TAKEN)
            write_json(TAKEN, {**fault, "attempt": os.environ.get("COLLAB_ATTEMPT")})
            if fault.get("oom"):
                print("[collab-cpu] fault: allocating memory until the memory limit stops this process", flush=True)
                hog = []
                while True:
                    hog.append(bytearray(64 * 1024 * 1024))
                    for page in range(0, len(hog[-1]), 4096):
                        hog[-1][page] = 1

    threading.Thread(target=watch, daemon=True).start()


def read_rows(path):
    return pq.read_table(path).to_pylist()


def load_class(path):
    """A dotted `module.Class` path, imported as veRL imports the interaction and agent loop classes it is given."""
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def load_function(path, name):
    """verl/trainer/ppo/reward.py get_custom_reward_fn: a function from a file path."""
    spec = importlib.util.spec_from_file_location("custom_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@ray.remote(num_cpus=0)
class AgentLoopWorker:
    """A node's share of a step, with its reward worker: the classes and files the rendered configs name, loaded as
    veRL loads them. Calls go to 127.0.0.1, so to the gateways of the pod this actor runs in."""

    def __init__(self, config, rank):
        self.config = config
        self.rank = rank
        rollout = config["actor_rollout_ref"]["rollout"]
        multi_turn = rollout["multi_turn"]
        interaction = OmegaConf.to_container(OmegaConf.load(multi_turn["interaction_config_path"]))["interaction"][0]
        interaction_class = load_class(interaction["class_name"])
        agent = OmegaConf.to_container(OmegaConf.load(rollout["agent"]["agent_loop_config_path"]))[0]
        reward = config["custom_reward_function"]
        kwargs = config["reward_model"]["reward_kwargs"]
        self.agent_loop = load_class(agent["_target_"])(
            interaction_class({**interaction["config"], "name": interaction["name"]}),
            load_function(reward["path"], reward["name"]),
            kwargs["metric_weights"],
            kwargs["llm_judge_kwargs"],
            multi_turn,
        )

    def where(self):
        return socket.gethostname()

    def play(self, rows):
        async def all_rows():
            return await asyncio.gather(*(self.agent_loop.run(row) for row in rows))

        return asyncio.run(all_rows())

    def save(self, actor_dir, step, world_size, gpus):
        """Each rank writes its own shards on its own node (FSDP's sharded checkpoint), here into the shared volume."""
        for local in range(gpus):
            r = self.rank * gpus + local
            for kind in ("model", "optim", "extra_state"):
                write_json(os.path.join(actor_dir, f"{kind}_world_size_{world_size}_rank_{r}.pt"), {"step": step})
        return True


@ray.remote(num_cpus=1)
class TaskRunner:
    def run(self, config):
        pprint(config)
        trainer = Trainer(config)
        trainer.fit()


class Trainer:
    def __init__(self, config):
        self.config = config
        t = config["trainer"]
        data = config["data"]
        hf_model_dir(config["actor_rollout_ref"]["model"]["path"])
        self.train_rows = read_rows(data["train_files"])
        self.val_rows = read_rows(data["val_files"])
        batch = data["train_batch_size"]
        self.batch_size = batch
        self.train_dataloader = StatefulLoader(len(self.train_rows) // batch)
        print(f"Size of train dataloader: {len(self.train_dataloader)}, Size of val dataloader: 1", flush=True)
        assert len(self.train_dataloader) >= 1, "Train dataloader is empty!"
        total = len(self.train_dataloader) * t["total_epochs"]
        if t.get("total_training_steps") is not None:
            total = t["total_training_steps"]
        self.total_training_steps = total
        print(f"Total training steps: {self.total_training_steps}", flush=True)
        self.nnodes, self.gpus = t["nnodes"], t["n_gpus_per_node"]
        self.workers = self._workers()

    def _workers(self):
        from ray.util.placement_group import placement_group

        available = sum(n["Resources"].get("GPU", 0) for n in ray.nodes() if n["Alive"])
        if available < self.nnodes * self.gpus:
            raise ValueError(
                f"Total available GPUs {available} is less than total desired GPUs {self.nnodes * self.gpus}"
            )
        pg = placement_group([{"GPU": self.gpus, "CPU": 0.01}] * self.nnodes, strategy="STRICT_SPREAD")
        ray.get(pg.ready(), timeout=600)
        workers = [
            AgentLoopWorker.options(placement_group=pg, placement_group_bundle_index=i, num_gpus=self.gpus).remote(
                self.config, i
            )
            for i in range(self.nnodes)
        ]
        print(f"rollout workers on {ray.get([w.where.remote() for w in workers])}", flush=True)
        return workers

    def _rollout(self, rows):
        """Samples round-robin over the nodes' workers, as veRL spreads its agent loop workers over the nodes."""
        n = self.config["actor_rollout_ref"]["rollout"]["n"]
        samples = [row for row in rows for _ in range(n)]
        shares = [samples[i :: len(self.workers)] for i in range(len(self.workers))]
        results = ray.get([w.play.remote(share) for w, share in zip(self.workers, shares, strict=True)])
        return [r for share in results for r in share]

    def _metrics(self, results, prefix):
        rewards = [reward for reward, _ in results]
        out = {
            f"{prefix}/score/mean": sum(rewards) / len(rewards),
            f"{prefix}/score/max": max(rewards),
            f"{prefix}/score/min": min(rewards),
        }
        return out

    def _validate(self):
        if not self.val_rows:
            return {}
        meta_info = {"eos_token_id": 151645, "pad_token_id": 151643, "recompute_log_prob": False, "do_sample": False}
        print(f"test_gen_batch meta info: {dict(meta_info, validate=True, global_steps=self.global_steps)}", flush=True)
        results = self._rollout(self.val_rows)
        rewards = [reward for reward, _ in results]
        return {"val-core/collabllm/reward/mean@1": sum(rewards) / len(rewards)}

    def _save_checkpoint(self):
        t = self.config["trainer"]
        folder = os.path.join(t["default_local_dir"], f"global_step_{self.global_steps}")
        print(f"local_global_step_folder: {folder}", flush=True)
        actor = os.path.join(folder, "actor")
        world = self.nnodes * self.gpus
        ray.get([w.save.remote(actor, self.global_steps, world, self.gpus) for w in self.workers])
        write_json(os.path.join(actor, "fsdp_config.json"), {"FSDP_version": 1, "world_size": world})
        write_json(os.path.join(actor, "huggingface", "config.json"), {"global_step": self.global_steps})
        write_json(os.path.join(folder, "data.pt"), self.train_dataloader.state_dict())
        with open(os.path.join(t["default_local_dir"], TRACKER), "w") as f:
            f.write(str(self.global_steps))
        keep = t.get("max_actor_ckpt_to_keep")
        if keep:
            steps = sorted(
                int(d.split("_")[-1]) for d in os.listdir(t["default_local_dir"]) if d.startswith("global_step_")
            )
            for old in steps[:-keep]:
                import shutil

                shutil.rmtree(os.path.join(t["default_local_dir"], f"global_step_{old}"), ignore_errors=True)

    def _load_checkpoint(self):
        t = self.config["trainer"]
        if t["resume_mode"] == "disable":
            return 0
        folder = find_latest_ckpt_path(t["default_local_dir"])
        if t["resume_mode"] == "auto":
            if folder is None:
                print("Training from scratch", flush=True)
                return 0
        elif t["resume_mode"] == "resume_path":
            folder = t["resume_from_path"]
        print(f"Load from checkpoint folder: {folder}", flush=True)
        self.global_steps = int(folder.split("global_step_")[-1])
        print(f"Setting global step to {self.global_steps}", flush=True)
        print(f"Resuming from {folder}", flush=True)
        data = os.path.join(folder, "data.pt")
        if os.path.exists(data):
            self.train_dataloader.load_state_dict(read_json(data))
        else:
            print(f"Warning: No dataloader state found at {data}, will start from scratch", flush=True)

    def fit(self):
        t = self.config["trainer"]
        self.global_steps = 0
        self._load_checkpoint()
        if t.get("val_before_train", True):
            val_metrics = self._validate()
            pprint(f"Initial validation metrics: {val_metrics}")
            log_step(val_metrics, self.global_steps)
            if t.get("val_only", False):
                return
        self.global_steps += 1
        last_val_metrics = None
        max_steps_duration = 0.0
        for epoch in range(t["total_epochs"]):
            for batch_index in self.train_dataloader:
                while fault_in_progress():
                    time.sleep(1)
                started = time.monotonic()
                metrics = {}
                is_last_step = self.global_steps >= self.total_training_steps
                rows = self.train_rows[batch_index * self.batch_size : (batch_index + 1) * self.batch_size]
                results = self._rollout(rows)
                gen = time.monotonic() - started
                metrics.update(self._metrics(results, "critic"))
                metrics.update({k.replace("critic/score", "critic/rewards"): v for k, v in metrics.items()})
                if t["test_freq"] > 0 and (is_last_step or self.global_steps % t["test_freq"] == 0):
                    val_metrics = self._validate()
                    if is_last_step:
                        last_val_metrics = val_metrics
                    metrics.update(val_metrics)
                esi = should_save_ckpt_esi(max_steps_duration, redundant_time=t.get("esi_redundant_time", 0))
                if t["save_freq"] > 0 and (is_last_step or self.global_steps % t["save_freq"] == 0 or esi):
                    if esi:
                        print("Force saving checkpoint: ESI instance expiration approaching.", flush=True)
                    self._save_checkpoint()
                step = time.monotonic() - started
                max_steps_duration = max(max_steps_duration, step)
                metrics.update({"training/global_step": self.global_steps, "training/epoch": epoch})
                metrics.update({"timing_s/gen": gen, "timing_s/step": step})
                metrics["perf/throughput"] = len(results) / step / max(1, self.nnodes * self.gpus)
                log_step(metrics, self.global_steps)
                self.global_steps += 1
                if is_last_step:
                    pprint(f"Final validation metrics: {last_val_metrics}")
                    return


if __name__ == "__main__":
    main()
