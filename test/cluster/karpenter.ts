// Karpenter with its KWOK provider on the local control plane, as pure functions: the GPU instance types it may
// launch (the GPU shapes of the static fleet), its KWOKNodeClass, and a NodePool for tests. cluster.ts does the I/O.
import { FLEET } from "./fleet.ts";

export const KWOK_NODE_CLASS = "default";
/** The zone every offering is in (KWOK nodes have no real zone; Karpenter needs one per offering). */
export const KARPENTER_ZONE = "kwok-zone-a";
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" } as const;

/**
 * The provider's instance types (its INSTANCE_TYPES_FILE_PATH format, kwok/cloudprovider/helpers.go): one per GPU
 * shape of the static fleet, same name, CPU, memory and `nvidia.com/gpu` count. Karpenter copies an offering's
 * single-valued requirements onto the node as labels, so the GPU product and count labels ride on the offering.
 */
export function karpenterInstanceTypes(): string {
  const shapes = new Map(FLEET.filter((n) => n.gpus).map((n) => [n.instanceType, n]));
  return JSON.stringify(
    [...shapes.values()].map((shape) => ({
      name: shape.instanceType,
      architecture: "amd64",
      operatingSystems: ["linux"],
      resources: {
        cpu: shape.cpu,
        memory: shape.memory,
        "ephemeral-storage": "1Ti",
        pods: "110",
        "nvidia.com/gpu": String(shape.gpus!.count),
      },
      offerings: [
        {
          Price: Number(shape.cpu) * 0.1 + shape.gpus!.count * 2,
          Available: true,
          Requirements: [
            { key: "karpenter.sh/capacity-type", operator: "In", values: ["on-demand"] },
            { key: "topology.kubernetes.io/zone", operator: "In", values: [KARPENTER_ZONE] },
            { key: "nvidia.com/gpu.product", operator: "In", values: [shape.gpus!.product] },
            { key: "nvidia.com/gpu.count", operator: "In", values: [String(shape.gpus!.count)] },
          ],
        },
      ],
    })),
    null,
    2,
  );
}

/** The KWOKNodeClass every NodePool refers to. The provider ships no controller that marks it Ready: the harness does. */
export function kwokNodeClass() {
  return {
    apiVersion: "karpenter.kwok.sh/v1alpha1",
    kind: "KWOKNodeClass",
    metadata: { name: KWOK_NODE_CLASS },
    spec: {},
  };
}

export interface GpuNodePoolOptions {
  /** GPU product the pool may launch (an `nvidia.com/gpu.product` value); both when omitted. */
  product?: string;
  /** Extra taints; pods that do not tolerate them never make this pool scale (the static fleet's pods stay apart). */
  taints?: { key: string; value?: string; effect: string }[];
  /** How long a node must be empty or underused before Karpenter removes it. */
  consolidateAfter?: string;
  /** Upper bound on the pool's `nvidia.com/gpu`. */
  gpuLimit?: number;
}

/** A NodePool of GPU nodes with the GPU taint, consolidating when empty or underused, all nodes disruptable at once. */
export function gpuNodePool(name: string, options: GpuNodePoolOptions = {}) {
  return {
    apiVersion: "karpenter.sh/v1",
    kind: "NodePool",
    metadata: { name },
    spec: {
      template: {
        spec: {
          nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: KWOK_NODE_CLASS },
          requirements: [
            { key: "karpenter.sh/capacity-type", operator: "In", values: ["on-demand"] },
            ...(options.product ? [{ key: "nvidia.com/gpu.product", operator: "In", values: [options.product] }] : []),
          ],
          taints: [GPU_TAINT, ...(options.taints ?? [])],
          expireAfter: "Never",
        },
      },
      disruption: {
        consolidationPolicy: "WhenEmptyOrUnderutilized",
        consolidateAfter: options.consolidateAfter ?? "10s",
        budgets: [{ nodes: "100%" }],
      },
      ...(options.gpuLimit !== undefined ? { limits: { "nvidia.com/gpu": String(options.gpuLimit) } } : {}),
    },
  };
}
