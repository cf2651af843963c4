"""CPU stand-in for recipe/collabllm/process_dataset.py (images/trainer-cpu/README.md): the same arguments, the same
two parquet files per dataset type in --local_dir with the columns the trainers read, and the same network use: the
dataset comes from the Hugging Face Hub (HF_ENDPOINT), or from a local directory or file. The recipe loads it with
`datasets`; this reads the repository's JSON-lines files through huggingface_hub, the client `datasets` uses."""

import argparse
import glob
import json
import os
import random
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

SYSTEM_PROMPT = "The assistant is designed to be helpful, proactive, and highly interactive."


def load_rows(dataset):
    if os.path.exists(dataset):
        root = dataset
    else:
        from huggingface_hub import snapshot_download

        root = snapshot_download(repo_id=dataset, repo_type="dataset")
    files = [root] if os.path.isfile(root) else sorted(glob.glob(os.path.join(root, "**", "*.jsonl"), recursive=True))
    rows = []
    for path in files:
        with open(path) as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    if not rows:
        raise ValueError(f"no examples in {dataset}")
    return rows


def rl_row(example, task_desc):
    prompt = [{"role": "system", "content": SYSTEM_PROMPT}] + example["prompt"]
    ground_truth = example.get("ground_truth") or example.get("single_turn_completion") or example.get("completion") or ""
    return {
        "prompt": prompt,
        "ground_truth": ground_truth,
        "raw_prompt": prompt,
        "extra_info": {
            "prompt": prompt,
            "interaction_kwargs": {
                "name": "collabllm",
                "single_turn_prompt": example["single_turn_prompt"],
                "task_desc": task_desc,
            },
        },
        "reward_model": {"style": "rule", "ground_truth": ground_truth},
        "data_source": "collabllm",
        "agent_name": "collabllm_agent",
        "index": str(uuid.uuid4()),
    }


def sft_row(example):
    prompt = [{"role": "system", "content": SYSTEM_PROMPT}] + example["prompt"]
    return {"prompt": prompt + [{"role": "assistant", "content": example.get("completion", "")}]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="collabllm/collabllm-multiturn-math-hard")
    parser.add_argument("--task_desc", default="solving math problems")
    parser.add_argument("--local_dir", default="~/data/collabllm-math-hard")
    parser.add_argument("--hdfs_dir", default=None)
    parser.add_argument("--validation_size", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--num_proc", type=int, default=1)
    parser.add_argument("--dataset_type", default="rl", choices=["rl", "sft"])
    args = parser.parse_args()

    examples = load_rows(args.dataset)
    random.Random(args.seed).shuffle(examples)
    n_val = max(1, int(len(examples) * args.validation_size))
    splits = {"validation": examples[:n_val], "train": examples[n_val:]}
    local_dir = os.path.expanduser(args.local_dir)
    os.makedirs(local_dir, exist_ok=True)
    for split, rows in splits.items():
        out = [rl_row(e, args.task_desc) if args.dataset_type == "rl" else sft_row(e) for e in rows]
        path = os.path.join(local_dir, f"{args.dataset_type}_{split}.parquet")
        pq.write_table(pa.Table.from_pylist(out), path)
        print(f"Saved {len(out)} {split} examples to {path}", flush=True)


if __name__ == "__main__":
    main()
