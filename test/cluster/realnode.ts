// The real node: a kubelet beside the KWOK fleet that starts every container it is given, on containerd, runc and the
// CNI plugins from Debian's packages, with kube-proxy for Services and CoreDNS for cluster DNS. It lives in a
// network namespace of its own, as a second machine would, linked to this host by a veth pair:
//
//   host  10.87.N.1 ── veth ── 10.87.N.2  node (netns collab-node-N): containerd, kubelet, kube-proxy, CoreDNS
//                                  └─ bridge cni0 10.88.N.1/24 ── pods 10.88.N.x
//
// N is the cluster's instance, so every local cluster may have its real node. Pods get routes to their own subnet and
// the Service range only: nothing leaves the machine. Services work as on any cluster (kube-proxy's iptables rules in
// the node's namespace), `kubernetes.default` leads to this host's apiserver, and pods mount their ServiceAccount's
// token. The node advertises nvidia.com/gpu through its status, as Kubernetes documents for extended resources, and
// carries a label and a taint so that only pods meant for it land there. What runs in the pods comes from images
// assembled offline (images.ts). Teardown removes every process, mount and the namespace (with its bridge, veths
// and rules); the host's own settings are left as they were.
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { API_PORT, binaries, DIR, INSTANCE, kubectl, log, PKI, pidOf, poll, ROOT, start, stop } from "./cluster.ts";
import { allImages, type Image, inputsHash } from "./images.ts";
import { ensurePackages } from "./packages.ts";
import { CHART, run as runTool } from "./tools.ts";

export const REAL_NODE = `collab-real-${INSTANCE}`;
const NETNS = `collab-node-${INSTANCE}`;
const HOST_LINK = `collabn${INSTANCE}`;
export const HOST_IP = `10.87.${INSTANCE}.1`;
export const NODE_IP = `10.87.${INSTANCE}.2`;
const POD_SUBNET = `10.88.${INSTANCE}.0/24`;
const BRIDGE_IP = `10.88.${INSTANCE}.1`;
/** The apiserver's --service-cluster-ip-range; the first address is `kubernetes`, CoreDNS takes .10 as kubeadm does. */
const SERVICE_RANGE = "10.0.0.0/24";
const DNS_SERVICE_IP = "10.0.0.10";

/** What pods use to land on the real node: its label and its taint (tolerate it, select it). */
export const REAL_NODE_LABEL = "collabllm.io/real-node";
export const REAL_NODE_TAINT = { key: REAL_NODE_LABEL, value: "true", effect: "NoSchedule" } as const;
/** How many nvidia.com/gpu the node advertises, as a usual 8-GPU node. None is behind them: trainers here run on CPU. */
export const REAL_NODE_GPUS = 8;

const STATE = join(DIR, "realnode");
/** Sockets and the runtime's state, under /run so that unix socket paths stay short. */
const RUN = `/run/collab-node-${INSTANCE}`;
const CONTAINERD_SOCKET = join(RUN, "containerd.sock");
const KUBELET_ROOT = join(STATE, "kubelet");
const POD_LOGS = join(STATE, "pods-logs");

const sh = (command: string, args: string[]) =>
  execFileSync(command, args, { stdio: ["ignore", "pipe", "pipe"] }).toString();
const tryRun = (command: string, args: string[]) => {
  try {
    return sh(command, args);
  } catch {
    return undefined;
  }
};
const inNode = (command: string, args: string[]) => sh("ip", ["netns", "exec", NETNS, command, ...args]);

// ---- what the machine must have ----

/** Why this machine cannot run the real node, or undefined when it can. */
export function realNodeUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "the real node needs root (network namespaces, mounts, containerd)";
  if (!existsSync("/sys/fs/cgroup/memory") && !existsSync("/sys/fs/cgroup/cgroup.controllers"))
    return "no memory cgroup controller under /sys/fs/cgroup";
  if (tryRun("ip", ["netns", "list"]) === undefined) return "`ip netns` does not work here (iproute2)";
  return undefined;
}

// ---- network ----

function setUpNetwork(): void {
  if (
    !tryRun("ip", ["netns", "list"])
      ?.split("\n")
      .some((l) => l.split(" ")[0] === NETNS)
  ) {
    sh("ip", ["netns", "add", NETNS]);
  }
  if (tryRun("ip", ["link", "show", HOST_LINK]) === undefined) {
    sh("ip", ["link", "add", HOST_LINK, "type", "veth", "peer", "name", "eth0", "netns", NETNS]);
  }
  tryRun("ip", ["addr", "add", `${HOST_IP}/24`, "dev", HOST_LINK]);
  sh("ip", ["link", "set", HOST_LINK, "up"]);
  tryRun("ip", ["route", "add", POD_SUBNET, "via", NODE_IP]);
  inNode("ip", ["link", "set", "lo", "up"]);
  tryRun("ip", ["netns", "exec", NETNS, "ip", "addr", "add", `${NODE_IP}/24`, "dev", "eth0"]);
  inNode("ip", ["link", "set", "eth0", "up"]);
  // The bridge with its address before the kubelet starts (the CNI plugin would make it at the first pod, but the
  // kubelet checks that its node IP exists, and CoreDNS binds before any pod).
  if (tryRun("ip", ["netns", "exec", NETNS, "ip", "link", "show", "cni0"]) === undefined) {
    inNode("ip", ["link", "add", "cni0", "type", "bridge"]);
  }
  tryRun("ip", ["netns", "exec", NETNS, "ip", "addr", "add", `${BRIDGE_IP}/24`, "dev", "cni0"]);
  inNode("ip", ["link", "set", "cni0", "up"]);
  // Both settings are the namespace's own: the host's are untouched. Bridged pod-to-pod traffic passes iptables, so
  // a Service backed by a pod on the same bridge answers through kube-proxy's NAT (what br_netfilter is loaded for on
  // every node).
  inNode("sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
  inNode("sysctl", ["-qw", "net.bridge.bridge-nf-call-iptables=1"]);
}

function writeCniConfig(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const config = {
    cniVersion: "1.0.0",
    name: "collab-real-node",
    plugins: [
      {
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: POD_SUBNET, gateway: BRIDGE_IP }]],
          // No default route: pods reach their subnet, the Services and this host (its side of the link, where the
          // tests scrape and probe them from), and nothing off the machine.
          routes: [{ dst: SERVICE_RANGE }, { dst: `10.87.${INSTANCE}.0/24` }],
          dataDir: join(STATE, "cni-ipam"),
        },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  };
  writeFileAtomic(join(dir, "10-collab.conflist"), JSON.stringify(config, null, 2));
}

/** Writes a file only when its content changes, and atomically: the node's components watch their files. */
function writeFileAtomic(path: string, text: string): void {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return;
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

// ---- containerd ----

function startContainerd(pause: Image): void {
  const cni = join(STATE, "cni");
  writeCniConfig(cni);
  mkdirSync(RUN, { recursive: true });
  const config = `version = 2
root = "${join(STATE, "containerd")}"
state = "${join(RUN, "containerd")}"
[grpc]
  address = "${CONTAINERD_SOCKET}"
[ttrpc]
  address = "${CONTAINERD_SOCKET}.ttrpc"
[debug]
  address = "${CONTAINERD_SOCKET}.debug"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pause.ref}"
  # The machine withholds CAP_SYS_RESOURCE: without this every sandbox fails to start (research: real-node.md).
  restrict_oom_score_adj = true
  # Pod network namespaces under this runtime's state, not the machine-wide /run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${cni}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${join(RUN, "runc")}"
`;
  const path = join(STATE, "containerd.toml");
  writeFileAtomic(path, config);
  start("/usr/bin", "containerd", [`--config=${path}`], { netns: NETNS });
}

const ctr = (...args: string[]) => sh("ctr", ["--address", CONTAINERD_SOCKET, "--namespace", "k8s.io", ...args]);

/** Imports an image unless containerd has it (tags are content hashes, so a present tag is the same image). */
function importImage(image: Image): void {
  if (ctr("images", "ls", "-q").split("\n").includes(image.ref)) return;
  log(`importing ${image.ref}`);
  ctr("images", "import", image.archive);
}

// ---- kubelet, kube-proxy, CoreDNS ----

/** A kubeconfig for the node's components: the admin certificate, the apiserver at this host's link address. */
function nodeKubeconfig(): string {
  const path = join(STATE, "kubeconfig");
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "collab-local",
        cluster: {
          server: `https://${HOST_IP}:${API_PORT}`,
          "certificate-authority": join(PKI, "ca.crt"),
          // The serving certificate names `kubernetes`, not this link's address.
          "tls-server-name": "kubernetes",
        },
      },
    ],
    users: [
      { name: "admin", user: { "client-certificate": join(PKI, "admin.crt"), "client-key": join(PKI, "admin.key") } },
    ],
    contexts: [{ name: "collab-local", context: { cluster: "collab-local", user: "admin" } }],
    "current-context": "collab-local",
  };
  writeFileAtomic(path, stringify(config));
  return path;
}

function startKubelet(bin: string, kubeconfig: string): void {
  mkdirSync(KUBELET_ROOT, { recursive: true });
  mkdirSync(POD_LOGS, { recursive: true });
  // Pods with dnsPolicy Default inherit this file: no resolver off the machine.
  const resolv = join(STATE, "resolv.conf");
  writeFileAtomic(resolv, "options ndots:1\n");
  const config = {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    // The machine's cgroups are v1 (research: real-node.md): allowed explicitly since 1.35, with cgroupfs and no
    // per-QoS hierarchy; nothing here enforces node allocatable.
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    address: NODE_IP,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: 10248,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: join(PKI, "ca.crt") },
    },
    authorization: { mode: "AlwaysAllow" },
    clusterDNS: [DNS_SERVICE_IP],
    clusterDomain: "cluster.local",
    resolvConf: resolv,
    podLogsDir: POD_LOGS,
    // No registry to pull from again: the kubelet must never collect the images the harness imported.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    imageMinimumGCAge: "87600h",
    evictionHard: { "memory.available": "200Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
    serializeImagePulls: false,
    syncFrequency: "10s",
    fileCheckFrequency: "10s",
    nodeStatusUpdateFrequency: "5s",
    maxPods: 60,
    shutdownGracePeriod: "0s",
  };
  const path = join(STATE, "kubelet.yaml");
  writeFileAtomic(path, stringify(config));
  start(
    bin,
    "kubelet",
    [
      `--config=${path}`,
      `--kubeconfig=${kubeconfig}`,
      `--container-runtime-endpoint=unix://${CONTAINERD_SOCKET}`,
      `--root-dir=${KUBELET_ROOT}`,
      `--hostname-override=${REAL_NODE}`,
      `--node-ip=${NODE_IP}`,
      `--node-labels=${REAL_NODE_LABEL}=true`,
      `--register-with-taints=${REAL_NODE_TAINT.key}=${REAL_NODE_TAINT.value}:${REAL_NODE_TAINT.effect}`,
      "--v=1",
    ],
    { netns: NETNS },
  );
}

function startKubeProxy(bin: string, kubeconfig: string): void {
  const config = {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    clientConnection: { kubeconfig },
    hostnameOverride: REAL_NODE,
    bindAddress: NODE_IP,
    healthzBindAddress: "127.0.0.1:10256",
    metricsBindAddress: "127.0.0.1:10249",
    mode: "iptables",
    nodePortAddresses: ["primary"],
    clusterCIDR: POD_SUBNET,
    // The namespace's conntrack table is the kernel's; kube-proxy leaves its size alone.
    conntrack: { maxPerCore: 0, min: 0 },
    iptables: { syncPeriod: "10s", minSyncPeriod: "0s" },
  };
  const path = join(STATE, "kube-proxy.yaml");
  writeFileAtomic(path, stringify(config));
  start(bin, "kube-proxy", [`--config=${path}`], { netns: NETNS });
}

function startCoreDns(bin: string, kubeconfig: string): void {
  const corefile = `.:53 {
    bind ${NODE_IP}
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfig} collab-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
`;
  const path = join(STATE, "Corefile");
  writeFileAtomic(path, corefile);
  start(bin, "coredns", ["-conf", path], { netns: NETNS });
}

/** The harness's stand-ins for the internet (providers.ts), on this host's side of the link. */
const PROVIDER_PORT = 18700 + 10 * (INSTANCE - 1);
const HUB_PORT = PROVIDER_PORT + 1;
export const PROVIDERS_NAMESPACE = "collab-realnode";
/** The OpenAI-compatible provider as pods reach it (a job's baseURL), and as this host's tests steer it. */
export const PROVIDER = {
  inCluster: `http://llm.${PROVIDERS_NAMESPACE}.svc.cluster.local/v1`,
  control: `http://${HOST_IP}:${PROVIDER_PORT}/_control`,
};
export const HUB_CONTROL = `http://${HOST_IP}:${HUB_PORT}/_control`;

/** Starts the stand-ins, again when their code changed since the running ones started (a stale one would not answer
 * what the tests ask of it). */
async function startProviders(): Promise<void> {
  const code = inputsHash(["test/cluster/providers.ts", "test/unit/gateway/fake-upstream.ts"]);
  const stamp = join(STATE, "stand-ins.code");
  if (pidOf("stand-ins") !== undefined && (existsSync(stamp) ? readFileSync(stamp, "utf8") : "") !== code) {
    await stop("stand-ins");
  }
  start(join(ROOT, "test/cluster"), "stand-ins", [HOST_IP, String(PROVIDER_PORT), String(HUB_PORT)], {
    command: [process.execPath, join(ROOT, "test/cluster/providers.ts")],
  });
  writeFileSync(stamp, code);
}

/**
 * Services whose endpoints are processes outside the node: `kubernetes` (this host's apiserver), `kube-dns`
 * (CoreDNS in the node's namespace), and the stand-ins for the internet.
 */
function hostServices(): string {
  const slice = (namespace: string, service: string, address: string, ports: object[]) => ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${service}-harness`,
      namespace,
      labels: {
        "kubernetes.io/service-name": service,
        "endpointslice.kubernetes.io/managed-by": "test-harness.collabllm.io",
      },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: [address], conditions: { ready: true } }],
    ports,
  });
  const docs = [
    slice("default", "kubernetes", HOST_IP, [{ name: "https", port: API_PORT, protocol: "TCP" }]),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "kube-dns", namespace: "kube-system", labels: { "k8s-app": "kube-dns" } },
      spec: {
        clusterIP: DNS_SERVICE_IP,
        ports: [
          { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
          { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
        ],
      },
    },
    slice("kube-system", "kube-dns", NODE_IP, [
      { name: "dns", port: 53, protocol: "UDP" },
      { name: "dns-tcp", port: 53, protocol: "TCP" },
    ]),
    { apiVersion: "v1", kind: "Namespace", metadata: { name: PROVIDERS_NAMESPACE } },
    ...(
      [
        ["llm", PROVIDER_PORT],
        ["hub", HUB_PORT],
      ] as const
    ).flatMap(([name, port]) => [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace: PROVIDERS_NAMESPACE },
        spec: { ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: port }] },
      },
      slice(PROVIDERS_NAMESPACE, name, HOST_IP, [{ name: "http", port, protocol: "TCP" }]),
    ]),
  ];
  return docs.map((d) => stringify(d)).join("---\n");
}

function nodeStatus(bin: string): {
  conditions?: { type: string; status: string }[];
  allocatable?: Record<string, string>;
} {
  return (
    JSON.parse(kubectl(bin, ["get", "node", REAL_NODE, "-o", "json"])) as { status: ReturnType<typeof nodeStatus> }
  ).status;
}

/** Advertises the node's GPUs the documented way for extended resources: a JSON patch of its status' capacity. */
function advertiseGpus(bin: string): void {
  kubectl(bin, [
    "patch",
    "node",
    REAL_NODE,
    "--subresource=status",
    "--type=json",
    "-p",
    JSON.stringify([{ op: "add", path: "/status/capacity/nvidia.com~1gpu", value: String(REAL_NODE_GPUS) }]),
  ]);
}

/** The operator's chart, installed or upgraded to run from the images built here, on the real node. */
export const OPERATOR_RELEASE = { name: "collab-operator", namespace: "collab-system" } as const;

export function installOperatorChart(images: ReturnType<typeof allImages>, values: string[] = []): void {
  const [repository, tag] = images.operator.ref.split(":");
  const set = (key: string, value: string) => ["--set", `${key}=${value}`];
  const setJson = (key: string, value: unknown) => ["--set-json", `${key}=${JSON.stringify(value)}`];
  runTool("helm", [
    "upgrade",
    "--install",
    OPERATOR_RELEASE.name,
    CHART,
    "-n",
    OPERATOR_RELEASE.namespace,
    "--create-namespace",
    ...set("image.repository", repository!),
    ...set("image.tag", tag!),
    ...set("operator.trainerImage", images.trainer.ref),
    ...set("operator.trainerImageBigcodebench", images.trainer.ref),
    ...setJson("nodeSelector", { [REAL_NODE_LABEL]: "true" }),
    ...setJson("tolerations", [{ key: REAL_NODE_TAINT.key, operator: "Exists" }]),
    ...values,
    "--wait",
    "--timeout",
    "180s",
  ]);
}

/** Removes the chart (the test files that install it leave the cluster as they found it). */
export function uninstallOperatorChart(): void {
  runTool("helm", [
    "uninstall",
    OPERATOR_RELEASE.name,
    "-n",
    OPERATOR_RELEASE.namespace,
    "--ignore-not-found",
    "--wait",
  ]);
}

/** Starts what is not running of the real node and waits until it is Ready with its GPUs. Idempotent. */
export async function upRealNode(bin: string): Promise<{ images: ReturnType<typeof allImages> }> {
  const why = realNodeUnavailable();
  if (why) throw new Error(`cannot run the real node here: ${why}`);
  ensurePackages();
  const nodeBin = binaries("realnode");
  const images = allImages();
  mkdirSync(STATE, { recursive: true });
  setUpNetwork();
  startContainerd(images.pause);
  await poll(
    async () => tryRun("ctr", ["--address", CONTAINERD_SOCKET, "version"]) !== undefined,
    60_000,
    "containerd",
  );
  for (const image of Object.values(images)) importImage(image);
  kubectl(bin, ["apply", "--server-side", "--force-conflicts", "-f", "-"], hostServices());
  const kubeconfig = nodeKubeconfig();
  startKubelet(nodeBin, kubeconfig);
  startKubeProxy(nodeBin, kubeconfig);
  startCoreDns(nodeBin, kubeconfig);
  await startProviders();
  await poll(
    async () => nodeStatus(bin).conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    120_000,
    `node ${REAL_NODE} Ready`,
  );
  advertiseGpus(bin);
  // The scheduler reads allocatable, which the kubelet derives from capacity at its next status update.
  await poll(
    async () => nodeStatus(bin).allocatable?.["nvidia.com/gpu"] === String(REAL_NODE_GPUS),
    60_000,
    `node ${REAL_NODE}'s GPUs allocatable`,
  );
  return { images };
}

const ORDER = ["stand-ins", "coredns", "kube-proxy", "kubelet"] as const;

/**
 * Stops the real node and removes everything it made on the machine: containers and their shims, mounts, the
 * network namespace with its bridge, veths and rules. The images stay in containerd's content store (files only),
 * so the next start does not import them again.
 */
export async function downRealNode(): Promise<void> {
  const wasUp = pidOf("kubelet") !== undefined || pidOf("containerd") !== undefined;
  for (const name of ORDER) await stop(name);
  if (pidOf("containerd") !== undefined) {
    // Every container of every pod, by force: the kubelet is gone, nobody would stop them.
    for (const task of (tryRun("ctr", ["--address", CONTAINERD_SOCKET, "-n", "k8s.io", "tasks", "ls", "-q"]) ?? "")
      .split("\n")
      .filter(Boolean)) {
      tryRun("ctr", ["--address", CONTAINERD_SOCKET, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", task]);
    }
    await poll(
      async () =>
        (tryRun("ctr", ["--address", CONTAINERD_SOCKET, "-n", "k8s.io", "tasks", "ls", "-q"]) ?? "").trim() === "",
      20_000,
      "containers killed",
    ).catch(() => undefined);
  }
  await stop("containerd");
  killShims();
  unmountUnder([RUN, KUBELET_ROOT, join(STATE, "containerd")]);
  if (
    tryRun("ip", ["netns", "list"])
      ?.split("\n")
      .some((l) => l.split(" ")[0] === NETNS)
  ) {
    sh("ip", ["netns", "delete", NETNS]);
  }
  rmSync(RUN, { recursive: true, force: true });
  rmSync(join(STATE, "cni-ipam"), { recursive: true, force: true });
  rmSync(KUBELET_ROOT, { recursive: true, force: true });
  rmSync(POD_LOGS, { recursive: true, force: true });
  // The node object goes too, so the cluster's other tests see the fleet they were written for.
  if (wasUp) {
    try {
      kubectl(binaries(), ["delete", "node", REAL_NODE, "--ignore-not-found", "--wait=false"]);
    } catch {
      // the apiserver is already gone: so is the node object with it, on the next start
    }
  }
  // The kubelet links every container's log from this fixed directory.
  const links = "/var/log/containers";
  for (const entry of existsSync(links) ? readdirSync(links) : []) {
    const target = tryReadlink(join(links, entry));
    if (target?.startsWith(POD_LOGS)) rmSync(join(links, entry), { force: true });
  }
}

function tryReadlink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** containerd's shims outlive it by design; ours are the ones started with our socket. */
function killShims(): void {
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (argv[0]?.includes("containerd-shim") && argv.includes(CONTAINERD_SOCKET))
        process.kill(Number(pid), "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}

/** Unmounts every mount below these directories, deepest first. */
export function unmountUnder(dirs: string[]): void {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter(
      (point): point is string => point !== undefined && dirs.some((d) => point === d || point.startsWith(`${d}/`)),
    )
    .map((point) => point.replace(/\\040/g, " "))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) tryRun("umount", ["-l", point]);
}

/** Whether anything of the real node is left on the machine (the teardown test's question). */
export function leftovers(): string[] {
  const found: string[] = [];
  for (const name of [...ORDER, "containerd"] as const) if (pidOf(name) !== undefined) found.push(`process ${name}`);
  if (
    tryRun("ip", ["netns", "list"])
      ?.split("\n")
      .some((l) => l.split(" ")[0] === NETNS)
  )
    found.push(`netns ${NETNS}`);
  if (tryRun("ip", ["link", "show", HOST_LINK]) !== undefined) found.push(`link ${HOST_LINK}`);
  const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  for (const dir of [RUN, KUBELET_ROOT, join(STATE, "containerd")])
    if (mountinfo.includes(` ${dir}`)) found.push(`mounts under ${dir}`);
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(CONTAINERD_SOCKET)) found.push(`process ${pid}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
