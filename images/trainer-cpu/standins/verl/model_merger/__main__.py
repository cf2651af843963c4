"""CPU stand-in for `python -m verl.model_merger merge --backend fsdp --local_dir <actor> --target_dir <dir>`
(images/trainer-cpu/README.md): the same arguments and checks, and a Hugging Face directory at --target_dir made from
the checkpoint's huggingface/ copy and its shards' manifest. veRL merges the FSDP shards into full weights."""

import argparse
import glob
import json
import os
import shutil


def main():
    parser = argparse.ArgumentParser(prog="verl.model_merger")
    sub = parser.add_subparsers(dest="operation", required=True)
    merge = sub.add_parser("merge")
    merge.add_argument("--backend", required=True, choices=["fsdp", "megatron"])
    merge.add_argument("--local_dir", required=True)
    merge.add_argument("--target_dir", required=True)
    merge.add_argument("--hf_model_path", default=None)
    args = parser.parse_args()

    shards = sorted(glob.glob(os.path.join(args.local_dir, "model_world_size_*_rank_*.pt")))
    if not shards:
        raise FileNotFoundError(f"no model_world_size_*_rank_*.pt under {args.local_dir}")
    world_size = int(shards[0].split("model_world_size_")[1].split("_rank_")[0])
    if len(shards) != world_size:
        raise ValueError(f"{len(shards)} shards under {args.local_dir}, expected {world_size}")
    hf = os.path.join(args.local_dir, "huggingface")
    if os.path.isdir(hf):
        shutil.copytree(hf, args.target_dir, dirs_exist_ok=True)
    os.makedirs(args.target_dir, exist_ok=True)
    with open(os.path.join(args.target_dir, "merged_from.json"), "w") as f:
        json.dump({"local_dir": args.local_dir, "shards": [os.path.basename(s) for s in shards]}, f)
    print(f"Saved merged model to {args.target_dir}", flush=True)


if __name__ == "__main__":
    main()
