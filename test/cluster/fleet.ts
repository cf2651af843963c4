// The fake node fleet of the local cluster: Hopper and Ampere GPU nodes and CPU nodes, played by KWOK.
export const HOPPER_PRODUCT = "NVIDIA-H100-80GB-HBM3";
export const AMPERE_PRODUCT = "NVIDIA-A100-SXM4-80GB";

interface NodeShape {
  name: string;
  instanceType: string;
  cpu: string;
  memory: string;
  gpus?: { count: number; product: string };
}

export const FLEET: readonly NodeShape[] = [
  ...[0, 1, 2, 3].map((i) => ({
    name: `gpu-h100-${i}`,
    instanceType: "p5.48xlarge",
    cpu: "192",
    memory: "2048Gi",
    gpus: { count: 8, product: HOPPER_PRODUCT },
  })),
  ...[0, 1].map((i) => ({
    name: `gpu-a100-${i}`,
    instanceType: "p4de.24xlarge",
    cpu: "96",
    memory: "1152Gi",
    gpus: { count: 8, product: AMPERE_PRODUCT },
  })),
  ...[0, 1].map((i) => ({ name: `cpu-${i}`, instanceType: "m7i.8xlarge", cpu: "32", memory: "128Gi" })),
];

export function nodeObject(shape: NodeShape) {
  const resources: Record<string, string> = {
    cpu: shape.cpu,
    memory: shape.memory,
    pods: "110",
    "ephemeral-storage": "1Ti",
  };
  if (shape.gpus) resources["nvidia.com/gpu"] = String(shape.gpus.count);
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: shape.name,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        "kubernetes.io/hostname": shape.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": shape.instanceType,
        type: "kwok",
        ...(shape.gpus
          ? { "nvidia.com/gpu.product": shape.gpus.product, "nvidia.com/gpu.count": String(shape.gpus.count) }
          : {}),
      },
    },
    spec: shape.gpus ? { taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] } : {},
    status: {
      capacity: resources,
      allocatable: resources,
      nodeInfo: { architecture: "amd64", operatingSystem: "linux", kubeletVersion: "fake", kubeProxyVersion: "fake" },
    },
  };
}
