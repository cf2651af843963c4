"""What the CPU trainer image's stand-ins share (images/trainer-cpu/README.md): veRL's console line, its stateful
dataloader's resume behaviour, its checkpoint tracker, its ESI check, the model a trainer starts from.

Each piece mirrors the veRL 0.6.0 code named beside it, which cannot be imported here: those modules import torch.
"""

import json
import numbers
import os
import pprint

# trainer/ppo/ray_trainer.py and fsdp_sft_trainer.py name checkpoints this way (utils/checkpoint/checkpoint_manager.py).
TRACKER = "latest_checkpointed_iteration.txt"


def concat_dict_to_str(data, step):
    """utils/logger/aggregate_logger.py: the console logger's line, numbers only."""
    output = [f"step:{step}"]
    for k, v in data.items():
        if isinstance(v, numbers.Number):
            output.append(f"{k}:{pprint.pformat(v)}")
    return " - ".join(output)


def log_step(data, step):
    """LocalLogger.log: one line per call, flushed."""
    print(concat_dict_to_str(data, step=step), flush=True)


class StatefulLoader:
    """A torchdata StatefulDataLoader over `batches` batches (drop_last, as veRL builds it), for its position only.

    Its state is the number of batches yielded in the current pass. Restored from a state taken after the pass's last
    batch, the next pass yields nothing and the one after starts afresh: what the real loader does, and why a trainer
    that also skips to the epoch the step count implies trains nothing in that epoch.
    """

    def __init__(self, batches):
        self.batches = batches
        self.yielded = 0

    def __len__(self):
        return self.batches

    def __iter__(self):
        start, self.yielded = self.yielded, self.yielded
        if start >= self.batches:
            self.yielded = 0
            return
        for index in range(start, self.batches):
            self.yielded = index + 1
            yield index
        self.yielded = 0

    def state_dict(self):
        # The state is taken inside the loop, after the batch was yielded: a pass that yielded its last batch reads as
        # complete until the loop asks for the next one.
        return {"_num_yielded": self.yielded}

    def load_state_dict(self, state):
        self.yielded = int(state["_num_yielded"])


def find_latest_ckpt_path(path):
    """utils/checkpoint/checkpoint_manager.py find_latest_ckpt_path."""
    tracker = os.path.join(path, TRACKER)
    if not os.path.exists(tracker):
        print(f"Checkpoint tracker file does not exist: {tracker}", flush=True)
        return None
    with open(tracker, "rb") as f:
        iteration = int(f.read().decode())
    ckpt_path = os.path.join(path, f"global_step_{iteration}")
    if not os.path.exists(ckpt_path):
        print(f"Checkpoint does not exist: {ckpt_path}", flush=True)
        return None
    return ckpt_path


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def should_save_ckpt_esi(max_steps_duration, save_ckpt_duration=60, redundant_time=0):
    """utils/checkpoint/checkpoint_manager.py should_save_ckpt_esi: a checkpoint before a known end of capacity."""
    import time
    from datetime import datetime, timedelta

    exp_ts_mlp = os.getenv("MLP_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP")
    exp_ts_aws = os.getenv("SAGEMAKER_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP")
    if exp_ts_mlp:
        try:
            remaining = float(exp_ts_mlp) - time.time()
        except ValueError:
            return False
        return remaining > 0 and max_steps_duration > 0 and remaining <= save_ckpt_duration + max_steps_duration + redundant_time
    if exp_ts_aws:
        expiration_time = datetime.fromtimestamp(int(exp_ts_aws))
        threshold_minutes = (save_ckpt_duration + max_steps_duration + redundant_time) / 60
        return expiration_time - datetime.now() < timedelta(minutes=threshold_minutes)
    return False


def hf_model_dir(path):
    """The model a trainer starts from: a directory with config.json, as transformers needs; a hub id is fetched into
    HF_HOME (the prepare stage fetched it already) by huggingface_hub, as transformers would."""
    if os.path.isabs(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise OSError(f"{path} does not appear to have a file named config.json")
        return path
    from huggingface_hub import snapshot_download

    return snapshot_download(path)
