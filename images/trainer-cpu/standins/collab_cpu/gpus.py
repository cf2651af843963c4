"""The CPU image's one change to what Ray sees: on a GPU node Ray counts the GPUs the device plugin gave the container
(NVML); here there are none, so every Python process of the image tells Ray the node has the GPUs the pod asked for
(COLLAB_GPUS_PER_NODE, which the operator sets on every trainer container), through Ray's resource override
(RAY_OVERRIDE_RESOURCES, ray/_private/resource_and_label_spec.py). Loaded at interpreter start by collab-cpu.pth."""

import json
import os

if "RAY_OVERRIDE_RESOURCES" not in os.environ and os.environ.get("COLLAB_GPUS_PER_NODE", "").isdigit():
    os.environ["RAY_OVERRIDE_RESOURCES"] = json.dumps({"GPU": int(os.environ["COLLAB_GPUS_PER_NODE"])})
