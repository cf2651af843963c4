"""CPU stand-in for veRL 0.6.0's SFT trainer, run by `torchrun ... -m verl.trainer.fsdp_sft_trainer <overrides>`
(images/trainer-cpu/README.md).

What it keeps: Hydra composes veRL's own sft_trainer.yaml with the overrides; every torchrun rank reads the parquet
files the dataset stage wrote and writes its shards of each checkpoint; rank 0 writes the Hugging Face copy (when
trainer.checkpoint.save_contents has hf_model), the dataloader state and the tracker file (atomically, as 0.6.0 does),
prints the console logger's step lines and "Total training steps"; resume finds the tracker and, as 0.6.0's fit does,
starts at epoch `global_step // steps_per_epoch` with the dataloader restored, so a checkpoint taken at the end of an
epoch resumes into a pass that yields nothing. What it does not do: load the model, compute gradients.
"""

import os
import time

import hydra
import pyarrow.parquet as pq
from omegaconf import OmegaConf

from collab_cpu import (
    TRACKER,
    StatefulLoader,
    find_latest_ckpt_path,
    hf_model_dir,
    log_step,
    read_json,
    write_json,
)

# How long one step takes here: enough for a test to act mid-run, short enough for the suite.
STEP_SECONDS = float(os.environ.get("COLLAB_CPU_STEP_SECONDS", "0.5"))


@hydra.main(config_path="config", config_name="sft_trainer", version_base=None)
def main(config):
    run_sft(OmegaConf.to_container(config, resolve=True))


def run_sft(config):
    rank, world_size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    t, data = config["trainer"], config["data"]
    hf_model_dir(config["model"]["partial_pretrain"])
    rows = pq.read_table(data["train_files"]).num_rows
    pq.read_table(data["val_files"])
    loader = StatefulLoader(rows // data["train_batch_size"])
    steps_per_epoch = len(loader)
    assert steps_per_epoch >= 1, "Train dataloader is empty!"

    global_step = 0
    if t.get("resume_mode", "auto") != "disable" and os.path.exists(t["default_local_dir"]):
        latest = t.get("resume_from_path") or find_latest_ckpt_path(t["default_local_dir"])
        if latest:
            if rank == 0:
                print(f"Found latest checkpoint: {latest} (step {latest.split('global_step_')[-1]})", flush=True)
            global_step = int(latest.split("global_step_")[-1])
            state = os.path.join(latest, "data.pt")
            if os.path.exists(state):
                loader.load_state_dict(read_json(state))

    total = steps_per_epoch * t["total_epochs"]
    if t.get("total_training_steps") is not None:
        total = t["total_training_steps"]
    if rank == 0:
        # 0.6.0 prints this at start; its "Total training steps: N," goes to a logger that is silent by default.
        print(
            f"Number of steps/epoch {steps_per_epoch}, number of epochs {t['total_epochs']}, "
            f"total number of steps {steps_per_epoch * t['total_epochs']}",
            flush=True,
        )

    start_epoch = global_step // steps_per_epoch
    train_time = 0.0
    last_valid_metric = None
    save_contents = t.get("checkpoint", {}).get("save_contents", ["model", "optimizer", "extra"])
    for _epoch in range(start_epoch, t["total_epochs"]):
        for _ in loader:
            global_step += 1
            started = time.monotonic()
            time.sleep(STEP_SECONDS)
            elapsed = time.monotonic() - started
            train_time += elapsed
            if rank == 0:
                log_step({"train/loss": round(2.0 / global_step, 6), "train/lr(1e-3)": 0.01, "train/time(s)": elapsed}, global_step)
            is_last_step = global_step >= total
            is_valid_step = t["test_freq"] > 0 and global_step % t["test_freq"] == 0
            if is_last_step or is_valid_step:
                last_valid_metric = {"val/loss": round(2.5 / global_step, 6)}
                if rank == 0:
                    log_step(last_valid_metric, global_step)
            if is_last_step or (t["save_freq"] > 0 and global_step % t["save_freq"] == 0):
                save_checkpoint(t, global_step, rank, world_size, loader, save_contents)
            if is_last_step:
                if rank == 0:
                    print(f"Total time for train steps: {train_time:.2f}s", flush=True)
                    print(f"Final validation metrics: {last_valid_metric}", flush=True)
                return


def save_checkpoint(t, step, rank, world_size, loader, save_contents):
    folder = os.path.join(t["default_local_dir"], f"global_step_{step}")
    if rank == 0:
        print(f"Saving checkpoint to: {folder}", flush=True)
    for kind in ("model", "optim", "extra_state"):
        write_json(os.path.join(folder, f"{kind}_world_size_{world_size}_rank_{rank}.pt"), {"step": step})
    if rank != 0:
        return
    if "hf_model" in save_contents:
        write_json(os.path.join(folder, "huggingface", "config.json"), {"global_step": step})
    write_json(os.path.join(folder, "data.pt"), loader.state_dict())
    tracker = os.path.join(t["default_local_dir"], TRACKER)
    with open(f"{tracker}.tmp", "w") as f:
        f.write(str(step))
    os.rename(f"{tracker}.tmp", tracker)
    print(f"Updated checkpoint tracker: {tracker}", flush=True)


if __name__ == "__main__":
    main()
