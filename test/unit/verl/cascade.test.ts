import { describe, expect, it } from "vitest";
import { Spec } from "../../../src/api/schema.ts";
import { disableCascadeAttention, isHopper } from "../../../src/verl/cascade.ts";
import { minimalSpec } from "./specs.ts";

describe("cascade attention", () => {
  it.each([
    ["NVIDIA-H100-80GB-HBM3", true],
    ["NVIDIA-H100-PCIe", true],
    ["NVIDIA-H200", true],
    ["NVIDIA-H800", true],
    ["NVIDIA-H20", true],
    ["NVIDIA-GH200-480GB", true],
    ["NVIDIA-A100-SXM4-80GB", false],
    ["NVIDIA-L20", false],
    ["NVIDIA-B200", false],
    ["NVIDIA-H2000", false],
    ["Tesla-V100-SXM2-16GB", false],
  ])("isHopper(%s) = %s", (product, hopper) => expect(isHopper(product)).toBe(hopper));

  const spec = (cascadeAttention: string, gpuProduct?: string) =>
    Spec.parse({ ...minimalSpec(), rollout: { cascadeAttention }, resources: gpuProduct ? { gpuProduct } : {} });

  it.each([
    ["Auto", "NVIDIA-H100-80GB-HBM3", false],
    ["Auto", "NVIDIA-A100-SXM4-80GB", true],
    ["Auto", undefined, true],
    ["Enabled", "NVIDIA-A100-SXM4-80GB", false],
    ["Disabled", "NVIDIA-H100-80GB-HBM3", true],
  ])("%s on %s disables it: %s", (mode, product, disabled) =>
    expect(disableCascadeAttention(spec(mode, product))).toBe(disabled),
  );
});
