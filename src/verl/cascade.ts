// vLLM cascade attention. veRL's FAQ (v0.6.0, "high actor/grad_norm") traces a training/inference mismatch on
// non-Hopper GPUs to a flash-attention bug behind vLLM's cascade attention, worst on long multi-turn inputs: exactly
// CollabLLM's case. Hopper is unaffected, so Auto keeps vLLM's default there and turns it off everywhere else.
import type { Spec } from "../api/schema.ts";

// nvidia.com/gpu.product values such as NVIDIA-H100-80GB-HBM3, NVIDIA-H200, NVIDIA-GH200-480GB, NVIDIA-H800, NVIDIA-H20.
const HOPPER = /(^|[^A-Za-z0-9])G?H(100|200|800|20)([^0-9]|$)/i;

export function isHopper(gpuProduct: string): boolean {
  return HOPPER.test(gpuProduct);
}

/**
 * Whether to render `disable_cascade_attn=True`. Auto without a gpuProduct disables it: the pods may land on any GPU,
 * and disabling costs a little rollout speed while a wrong "enabled" silently degrades training.
 */
export function disableCascadeAttention(spec: Spec): boolean {
  switch (spec.rollout.cascadeAttention) {
    case "Enabled":
      return false;
    case "Disabled":
      return true;
    case "Auto":
      return spec.resources.gpuProduct === undefined || !isHopper(spec.resources.gpuProduct);
  }
}
