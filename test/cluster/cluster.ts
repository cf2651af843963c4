// The local control plane: etcd, kube-apiserver (TLS, RBAC), kube-controller-manager, kube-scheduler and KWOK, all
// on loopback, started as detached processes so the cluster outlives the command that started it; on request also
// Kueue and Karpenter (its KWOK provider). State lives in .cluster/ (git-ignored): PKI, kubeconfig, etcd data, logs,
// and one pid file per process we started.
import { execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:https";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { FLEET, nodeObject } from "./fleet.ts";
import { karpenterInstanceTypes, kwokNodeClass } from "./karpenter.ts";
import {
  conversionCrdNames,
  documents,
  KUEUE_NAMESPACE,
  kueueConfiguration,
  kueueCrds,
  kueueWebhookConfigurations,
  type Manifest,
} from "./kueue.ts";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/**
 * Which of several local clusters this process uses (1, 2, ...). The integration tests run files on as many clusters
 * at once, one per vitest worker (VITEST_POOL_ID); COLLAB_CLUSTER_INSTANCE picks one by hand. Instance N lives in
 * `.cluster-N` (the first in `.cluster`), with every port 1000 × (N − 1) above the first's.
 */
export const INSTANCE = Number(process.env.COLLAB_CLUSTER_INSTANCE ?? process.env.VITEST_POOL_ID ?? 1);
const suffix = INSTANCE === 1 ? "" : `-${INSTANCE}`;
export const DIR = `${process.env.COLLAB_CLUSTER_DIR ?? join(ROOT, ".cluster")}${suffix}`;
export const KUBECONFIG = join(DIR, "kubeconfig");
export const PKI = join(DIR, "pki");
export const LOGS = join(DIR, "logs");
const PIDS = join(DIR, "pids");

const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback) + 1000 * (INSTANCE - 1);
const ETCD_PORT = port("COLLAB_CLUSTER_ETCD_PORT", 23790);
export const API_PORT = port("COLLAB_CLUSTER_API_PORT", 16443);
const KWOK_PORT = port("COLLAB_CLUSTER_KWOK_PORT", 10247);
// Opt-in components; defaults in 18600-18699.
const KUEUE_WEBHOOK_PORT = port("COLLAB_CLUSTER_KUEUE_WEBHOOK_PORT", 18600);
const KUEUE_METRICS_PORT = port("COLLAB_CLUSTER_KUEUE_METRICS_PORT", 18601);
const KUEUE_HEALTH_PORT = port("COLLAB_CLUSTER_KUEUE_HEALTH_PORT", 18602);
const KARPENTER_METRICS_PORT = port("COLLAB_CLUSTER_KARPENTER_METRICS_PORT", 18603);
const KARPENTER_HEALTH_PORT = port("COLLAB_CLUSTER_KARPENTER_HEALTH_PORT", 18604);
export const API_SERVER = `https://127.0.0.1:${API_PORT}`;
const ETCD_URL = `http://127.0.0.1:${ETCD_PORT}`;

export const log = (msg: string) => process.stderr.write(`[cluster] ${msg}\n`);

export type Addon = "kueue" | "karpenter" | "realnode";

/**
 * Builds (once) or finds the binaries; returns the directory of links to them. For an addon, the directory holds its
 * binary and `module`, the source of its pinned Go module (CRDs and manifests come from there).
 */
export function binaries(addon?: Addon): string {
  const out = execFileSync("bash", [join(ROOT, "test/cluster/build-bins.sh"), ...(addon ? [addon] : [])], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.toString().trim();
}

// ---- PKI: one CA; one system:masters cert serves TLS, authenticates clients and signs service account tokens; ----
// ---- one serving cert for the webhooks the harness runs (Kueue's)                                             ----

const openssl = (cwd: string, ...args: string[]) =>
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Writes <name>.key and <name>.crt in `dir`: a P-256 key and a ten-year certificate for it, signed by itself. */
function selfSigned(dir: string, name: string, subject: string, extensions: string[]): void {
  const ext = extensions.flatMap((e) => ["-addext", e]);
  openssl(
    dir,
    "req",
    "-x509",
    ...EC_KEY,
    "-days",
    "3650",
    "-subj",
    subject,
    ...ext,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
  );
}

/** Writes <name>.key and <name>.crt in `dir`: a P-256 key and a certificate for it signed by the cluster's CA. */
function issue(dir: string, name: string, subject: string, extensions: string[]): void {
  openssl(dir, "req", ...EC_KEY, "-subj", subject, "-keyout", `${name}.key`, "-out", `${name}.csr`);
  writeFileSync(join(dir, `${name}.ext`), extensions.join("\n"));
  const ca = ["-CA", join(PKI, "ca.crt"), "-CAkey", join(PKI, "ca.key"), "-CAcreateserial", "-days", "3650"];
  openssl(dir, "x509", "-req", "-in", `${name}.csr`, ...ca, "-extfile", `${name}.ext`, "-out", `${name}.crt`);
}

function ensurePKI(): void {
  if (existsSync(join(PKI, "admin.crt"))) return;
  log("creating certificates");
  mkdirSync(PKI, { recursive: true });
  selfSigned(PKI, "ca", "/CN=collab-test-ca", [
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  issue(PKI, "admin", "/O=system:masters/CN=collab-admin", [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth,clientAuth",
    "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1",
  ]);
  openssl(PKI, "genrsa", "-out", "sa.key", "2048");
  openssl(PKI, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub");
}

/** The webhook serving certificate (tls.crt, tls.key in the returned dir) and the CA bundle that verifies it. */
function ensureWebhookCert(): { dir: string; caBundle: string } {
  const dir = join(PKI, "webhook");
  if (!existsSync(join(dir, "tls.crt"))) {
    mkdirSync(dir, { recursive: true });
    issue(dir, "tls", "/CN=collab-webhooks", [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ]);
  }
  return { dir, caBundle: readFileSync(join(PKI, "ca.crt")).toString("base64") };
}

function writeKubeconfig(): void {
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "collab-local", cluster: { server: API_SERVER, "certificate-authority": join(PKI, "ca.crt") } }],
    users: [
      { name: "admin", user: { "client-certificate": join(PKI, "admin.crt"), "client-key": join(PKI, "admin.key") } },
    ],
    contexts: [{ name: "collab-local", context: { cluster: "collab-local", user: "admin" } }],
    "current-context": "collab-local",
  };
  writeFileSync(KUBECONFIG, stringify(config));
}

// ---- processes ----

export type Component =
  | "etcd"
  | "kube-apiserver"
  | "kube-controller-manager"
  | "kube-scheduler"
  | "kwok"
  | "kueue"
  | "karpenter"
  | RealNodeComponent;

/** The real node's processes (realnode.ts), started in the node's network namespace. */
const REAL_NODE_COMPONENTS = ["containerd", "kubelet", "kube-proxy", "coredns", "stand-ins"] as const;
export type RealNodeComponent = (typeof REAL_NODE_COMPONENTS)[number];

/** The pid of a component we started, if it still runs. */
export function pidOf(name: Component): number | undefined {
  const file = join(PIDS, `${name}.pid`);
  if (!existsSync(file)) return undefined;
  const [pidText, script] = readFileSync(file, "utf8").split("\n");
  const pid = Number(pidText);
  // A pid file may outlive its process and the pid be reused: only a process running our binary (or an interpreter
  // running our script) counts.
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return (script ? argv.includes(script) : argv[0]?.endsWith(`/${name}`)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Run in this network namespace (`ip netns` name): the real node's processes. */
  netns?: string;
  /** What to run instead of `<bin>/<name>`: an interpreter and its script, which the pid file records to tell our
   * process from another's. */
  command?: string[];
}

export function start(bin: string, name: Component, args: string[], options: StartOptions = {}): void {
  if (pidOf(name) !== undefined) return;
  log(`starting ${name}`);
  mkdirSync(LOGS, { recursive: true });
  mkdirSync(PIDS, { recursive: true });
  const out = openSync(join(LOGS, `${name}.log`), "a");
  const full = [...(options.command ?? [join(bin, name)]), ...args];
  // nsenter execs the program in place: the pid is the program's, and only the network namespace changes (unlike
  // `ip netns exec`, whose private mount namespace would hide the kubelet's volume mounts from containerd).
  const [command, ...argv] = options.netns ? ["nsenter", `--net=/run/netns/${options.netns}`, "--", ...full] : full;
  const child = spawn(command!, argv, {
    detached: true,
    stdio: ["ignore", out, out],
    env: { ...process.env, ...options.env },
  });
  closeSync(out);
  const script = options.command?.at(-1);
  writeFileSync(join(PIDS, `${name}.pid`), script ? `${child.pid}\n${script}` : String(child.pid));
  child.unref();
}

export async function stop(name: Component, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  const pid = pidOf(name);
  rmSync(join(PIDS, `${name}.pid`), { force: true });
  if (pid === undefined) return;
  log(`stopping ${name}`);
  process.kill(pid, signal);
  const gone = await poll(async () => !existsSync(`/proc/${pid}`) || isZombie(pid), 15_000).catch(() => false);
  if (!gone) process.kill(pid, "SIGKILL");
}

function isZombie(pid: number): boolean {
  try {
    return /^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

export async function poll(check: () => Promise<boolean>, timeoutMs: number, what = "condition"): Promise<true> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** GET a path of the apiserver as the admin user; resolves to the status code. */
export function apiGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      `${API_SERVER}${path}`,
      {
        ca: readFileSync(join(PKI, "ca.crt")),
        cert: readFileSync(join(PKI, "admin.crt")),
        key: readFileSync(join(PKI, "admin.key")),
        timeout: 5000,
      },
      (res) => {
        let body = "";
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => resolvePromise({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end();
  });
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}

export function kubectl(bin: string, args: string[], input?: string): string {
  try {
    return execFileSync(join(bin, "kubectl"), ["--kubeconfig", KUBECONFIG, ...args], {
      input,
      stdio: ["pipe", "pipe", "pipe"],
    }).toString();
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`kubectl ${args.join(" ")} failed: ${stderr || String(error)}`);
  }
}

function startEtcd(bin: string): void {
  const data = join(DIR, "etcd");
  const client = ETCD_URL;
  const peer = `http://127.0.0.1:${ETCD_PORT + 1}`;
  start(bin, "etcd", [
    "--name=node0",
    `--data-dir=${data}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=node0=${peer}`,
    "--unsafe-no-fsync=true",
    "--auto-compaction-retention=1",
    "--quota-backend-bytes=8589934592",
    "--log-level=warn",
  ]);
}

/**
 * GenericWorkload on the apiserver (serves Workload and PodGroup, accepts pods' spec.schedulingGroup), the scheduler
 * (adds the GangScheduling plugin) and the controller manager (PodGroup protection finalizer).
 */
const FEATURE_GATES = "GenericWorkload=true";

function startApiserver(bin: string): void {
  start(bin, "kube-apiserver", [
    `--etcd-servers=${ETCD_URL}`,
    // Every address, so the real node (realnode.ts), in a network namespace of its own, reaches it through its link
    // to this host; KWOK and the tests use loopback.
    "--bind-address=0.0.0.0",
    "--advertise-address=127.0.0.1", // a sandbox has no default route to derive it from
    // Since 1.37 the endpoint reconciler refuses a loopback advertise address: the `kubernetes` Service's endpoints
    // are written by the real node's harness, the only place pods run that call the API (realnode.ts).
    "--endpoint-reconciler-type=none",
    `--secure-port=${API_PORT}`,
    `--cert-dir=${join(DIR, "apiserver-certs")}`,
    `--tls-cert-file=${join(PKI, "admin.crt")}`,
    `--tls-private-key-file=${join(PKI, "admin.key")}`,
    `--client-ca-file=${join(PKI, "ca.crt")}`,
    "--authorization-mode=RBAC",
    "--service-cluster-ip-range=10.0.0.0/24",
    `--service-account-issuer=${API_SERVER}`,
    `--service-account-key-file=${join(PKI, "sa.pub")}`,
    `--service-account-signing-key-file=${join(PKI, "sa.key")}`,
    // ServiceAccount admission is on, as on every real cluster: pods get their ServiceAccount's projected token (the
    // operator's pod on the real node), and a pod in a namespace whose `default` ServiceAccount the controller manager
    // has not made yet waits for it (the plugin retries) rather than being refused.
    // As OpenShift and hardened clusters: setting blockOwnerDeletion needs update on the owner's finalizers, so the
    // chart's RBAC test sees that rule used (test/integration/rbac.test.ts).
    "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
    "--allow-privileged=true",
    // `kubectl logs`, `exec` and `port-forward` on the real node: the apiserver calls its kubelet by the node's IP
    // (nothing here resolves node names) with the admin certificate, which the kubelet's client CA verifies.
    "--kubelet-preferred-address-types=InternalIP",
    `--kubelet-client-certificate=${join(PKI, "admin.crt")}`,
    `--kubelet-client-key=${join(PKI, "admin.key")}`,
    "--max-requests-inflight=0",
    "--max-mutating-requests-inflight=0",
    "--enable-priority-and-fairness=false",
    // Native gang scheduling (KEP-4671): in 1.37 the Workload and PodGroup API is scheduling.k8s.io/v1beta1, behind
    // GenericWorkload (beta, off by default; it replaced 1.35-1.36's GangScheduling gate) and, as every new beta API,
    // not served unless enabled in --runtime-config.
    `--feature-gates=${FEATURE_GATES}`,
    "--runtime-config=scheduling.k8s.io/v1beta1=true",
  ]);
}

function startControllers(bin: string): void {
  const kubeconfig = `--kubeconfig=${KUBECONFIG}`;
  // Both talk to the apiserver as admin and serve nothing (secure port 0): the tests need no scrape of them.
  const component = [
    kubeconfig,
    `--authentication-kubeconfig=${KUBECONFIG}`,
    `--authorization-kubeconfig=${KUBECONFIG}`,
    "--leader-elect=false",
    "--bind-address=127.0.0.1",
    "--secure-port=0",
    `--feature-gates=${FEATURE_GATES}`,
  ];
  start(bin, "kube-controller-manager", [
    ...component,
    `--root-ca-file=${join(PKI, "ca.crt")}`,
    `--service-account-private-key-file=${join(PKI, "sa.key")}`,
    "--use-service-account-credentials=false",
    // Upstream's default (50 s). Shorter, KWOK's lease renewals lapse across an apiserver restart in the chaos tests,
    // every node goes NotReady for a moment, and pods of the next test wait ~a minute for the scheduler. Node loss is
    // tested by deleting the node, which PodGC handles without this grace period.
    "--node-monitor-grace-period=50s",
    "--concurrent-gc-syncs=5",
  ]);
  start(bin, "kube-scheduler", component);
  start(bin, "kwok", [
    kubeconfig,
    `--config=${writeKwokConfig(bin)}`,
    "--manage-all-nodes=false",
    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
    `--server-address=127.0.0.1:${KWOK_PORT}`,
    "--node-lease-duration-seconds=40",
    "--cidr=10.244.0.0/16",
    "--node-ip=10.0.0.1",
  ]);
}

/**
 * KWOK v0.8 has no built-in stages: upstream's node and pod stages from its module, plus ours (sim-stages.yaml,
 * which also replaces upstream's pod-delete so that pods held by a finalizer are first reported Failed).
 */
function writeKwokConfig(bin: string): string {
  const upstream = join(bin, "kwok-stages");
  const files = [
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    // A default StorageClass whose claims KWOK binds to made-up volumes, so pods mounting a PVC can schedule.
    "volume/fast/pvc-provision.yaml",
    "volume/fast/pv-bind.yaml",
    "volume/fast/pvc-delete.yaml",
    "volume/fast/pv-delete.yaml",
  ].map((f) => join(upstream, f));
  // No KwokConfiguration document: with one, kwok v0.8 leaves unset options at zero instead of their defaults.
  const docs = [
    ...files.map((f) => withoutStuckImages(readFileSync(f, "utf8"))),
    readFileSync(join(ROOT, "test/cluster/sim-stages.yaml"), "utf8"),
  ];
  const path = join(DIR, "kwok.yaml");
  writeFileSync(path, docs.join("\n---\n"));
  return path;
}

/** A trainer image no node can pull: sim-stages.yaml keeps its pods Pending in ErrImagePull (startup timeouts). */
export const STUCK_IMAGE = "sim.collabllm.io/image-pull-backoff:never";

/** Upstream's pod-ready stage, except for pods whose first container runs STUCK_IMAGE. */
function withoutStuckImages(stage: string): string {
  const doc = parse(stage) as {
    metadata?: { name?: string };
    spec?: { selector?: { matchExpressions?: object[] } };
  };
  if (doc.metadata?.name !== "pod-ready") return stage;
  doc.spec?.selector?.matchExpressions?.push({
    key: ".spec.containers[0].image",
    operator: "NotIn",
    values: [STUCK_IMAGE],
  });
  return stringify(doc);
}

async function nodesReady(bin: string): Promise<boolean> {
  const nodes = JSON.parse(kubectl(bin, ["get", "nodes", "-o", "json"])).items as {
    spec: { taints?: { key: string }[] };
    status: { conditions?: { type: string; status: string }[] };
  }[];
  return (
    nodes.length >= FLEET.length &&
    nodes.every(
      (n) =>
        n.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") &&
        !n.spec.taints?.some((t) => t.key.startsWith("node.kubernetes.io/")),
    )
  );
}

// ---- opt-in components: Kueue and Karpenter, started for the test files (or CLI runs) that ask for them ----

function apply(bin: string, manifests: Manifest[]): void {
  kubectl(
    bin,
    ["apply", "--server-side", "--force-conflicts", "-f", "-"],
    manifests.map((m) => stringify(m)).join("---\n"),
  );
}

function applyCrds(bin: string, crds: Manifest[]): void {
  apply(bin, crds);
  const names = crds.map((crd) => `crd/${crd.metadata.name}`);
  kubectl(bin, ["wait", "--for=condition=Established", "--timeout=60s", ...names]);
}

const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => readFileSync(join(dir, f), "utf8"));

/**
 * With its internal cert management off, Kueue v0.17 reads a serving certificate for its metrics endpoint from this
 * fixed path and exits without one (cmd/kueue/main.go, metricsCertPath). Any valid pair will do: the harness makes a
 * self-signed one once per machine, by renaming a complete directory into place so concurrent clusters never see a
 * key without its certificate.
 */
const KUEUE_METRICS_CERTS = "/etc/kueue/metrics/certs";

function ensureKueueMetricsCert(): void {
  if (existsSync(join(KUEUE_METRICS_CERTS, "tls.crt"))) return;
  const tmp = `${KUEUE_METRICS_CERTS}.tmp.${process.pid}`;
  try {
    mkdirSync(tmp, { recursive: true });
  } catch (error) {
    throw new Error(
      `Kueue needs ${KUEUE_METRICS_CERTS}/tls.{crt,key} and this user cannot create it (${String(error)}); ` +
        `run once: sudo install -d -o "$USER" ${KUEUE_METRICS_CERTS}`,
    );
  }
  selfSigned(tmp, "tls", "/CN=kueue-metrics", ["subjectAltName=IP:127.0.0.1"]);
  try {
    renameSync(tmp, KUEUE_METRICS_CERTS);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another cluster got there first (or an empty dir exists)
    if (!existsSync(join(KUEUE_METRICS_CERTS, "tls.crt")))
      throw new Error(`${KUEUE_METRICS_CERTS} exists without tls.crt`);
  }
}

/**
 * Kueue's manager: CRDs and webhook configurations from its pinned module, webhooks served on loopback with the
 * harness's certificate, configuration from kueue.ts. The visibility API server (an aggregated API on 0.0.0.0:8082)
 * is off: nothing here reads it and it would collide between clusters on one machine.
 */
async function startKueue(bin: string): Promise<void> {
  const kueue = binaries("kueue");
  const module = join(kueue, "module");
  const { dir: certDir, caBundle } = ensureWebhookCert();
  ensureKueueMetricsCert();
  const url = `https://127.0.0.1:${KUEUE_WEBHOOK_PORT}`;
  const crds = join(module, "config/components/crd");
  const conversion = conversionCrdNames(readFileSync(join(crds, "kustomization.yaml"), "utf8"), (path) =>
    readFileSync(join(crds, path), "utf8"),
  );
  applyCrds(bin, kueueCrds(yamlFiles(join(crds, "bases")), conversion, url, caBundle));
  apply(bin, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: KUEUE_NAMESPACE } }]);
  const webhooks = readFileSync(join(module, "config/components/webhook/manifests.yaml"), "utf8");
  apply(bin, kueueWebhookConfigurations(webhooks, url, caBundle));
  const config = join(DIR, "kueue.yaml");
  writeFileSync(
    config,
    kueueConfiguration({
      webhookPort: KUEUE_WEBHOOK_PORT,
      metricsPort: KUEUE_METRICS_PORT,
      healthPort: KUEUE_HEALTH_PORT,
      certDir,
    }),
  );
  start(kueue, "kueue", [`--config=${config}`, "--feature-gates=VisibilityOnDemand=false"], { env: { KUBECONFIG } });
  await poll(() => httpOk(`http://127.0.0.1:${KUEUE_HEALTH_PORT}/readyz`), 120_000, "kueue /readyz");
}

/**
 * Karpenter with its KWOK provider: CRDs from its pinned module, the GPU instance types of karpenter.ts, and the
 * KWOKNodeClass marked Ready (a real provider's node class controller would; the KWOK provider has none). Nodes it
 * launches carry kwok.x-k8s.io/node=fake, so our KWOK runs them like the static fleet.
 */
async function startKarpenter(bin: string): Promise<void> {
  const karpenter = binaries("karpenter");
  const module = join(karpenter, "module");
  applyCrds(
    bin,
    [
      ...yamlFiles(join(module, "kwok/charts/crds")),
      readFileSync(join(module, "kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml"), "utf8"),
    ].flatMap(documents),
  );
  const nodeClass = kwokNodeClass();
  apply(bin, [nodeClass]);
  const ready = {
    type: "Ready",
    status: "True",
    reason: "Ready",
    message: "",
    lastTransitionTime: new Date().toISOString(),
    observedGeneration: 1,
  };
  kubectl(bin, [
    "patch",
    "kwoknodeclass",
    nodeClass.metadata.name,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status: { conditions: [ready] } }),
  ]);
  const instanceTypes = join(DIR, "karpenter-instance-types.json");
  writeFileSync(instanceTypes, karpenterInstanceTypes());
  start(karpenter, "karpenter", [], {
    env: {
      KUBECONFIG,
      DISABLE_LEADER_ELECTION: "true",
      METRICS_PORT: String(KARPENTER_METRICS_PORT),
      HEALTH_PROBE_PORT: String(KARPENTER_HEALTH_PORT),
      INSTANCE_TYPES_FILE_PATH: instanceTypes,
    },
  });
  await poll(() => httpOk(`http://127.0.0.1:${KARPENTER_HEALTH_PORT}/readyz`), 120_000, "karpenter /readyz");
}

export interface UpOptions {
  /** Also run Kueue (namespaces labelled KUEUE_NAMESPACE_LABEL=true are managed). */
  kueue?: boolean;
  /** Also run Karpenter with its KWOK provider (tests bring their NodePools: karpenter.ts gpuNodePool). */
  karpenter?: boolean;
  /** Also run the real node (realnode.ts): a kubelet on containerd that starts the containers it is given. */
  realnode?: boolean;
}

/** Starts whatever is not running yet and waits until pods can be scheduled. Idempotent. */
export async function up(options: UpOptions = {}): Promise<void> {
  const t0 = Date.now();
  const bin = binaries();
  mkdirSync(DIR, { recursive: true });
  ensurePKI();
  writeKubeconfig();
  startEtcd(bin);
  await poll(() => httpOk(`${ETCD_URL}/health`), 60_000, "etcd");
  startApiserver(bin);
  await poll(async () => (await apiGet("/readyz")).status === 200, 120_000, "kube-apiserver /readyz");
  // CRDs go in before the controller manager starts, so its garbage collector knows them from the first sync.
  kubectl(bin, ["apply", "--server-side", "--force-conflicts", "-f", join(ROOT, "crds")]);
  kubectl(bin, [
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    join(bin, "kwok-stages/volume/fast/storage-class.yaml"),
  ]);
  startControllers(bin);
  kubectl(
    bin,
    ["apply", "--server-side", "--force-conflicts", "-f", "-"],
    FLEET.map((n) => stringify(nodeObject(n))).join("---\n"),
  );
  await poll(() => nodesReady(bin), 120_000, "nodes Ready and untainted");
  if (options.kueue) await startKueue(bin);
  if (options.karpenter) await startKarpenter(bin);
  // Imported here: realnode.ts builds on this module.
  if (options.realnode) await (await import("./realnode.ts")).upRealNode(bin);
  log(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s; kubeconfig: ${KUBECONFIG}`);
}

const ORDER: Component[] = [
  "karpenter",
  "kueue",
  "kwok",
  "kube-scheduler",
  "kube-controller-manager",
  "kube-apiserver",
  "etcd",
];

/** Stops every process this harness started (and nothing else) and forgets the cluster's data. */
export async function down(): Promise<void> {
  await (await import("./realnode.ts")).downRealNode();
  for (const name of ORDER) await stop(name);
  rmSync(join(DIR, "etcd"), { recursive: true, force: true });
  log("down");
}

/** Restarts one component (chaos tests): stop, then start with the same flags. */
export async function restart(name: Component): Promise<void> {
  const bin = binaries();
  await stop(name);
  if (name === "etcd") startEtcd(bin);
  else if (name === "kube-apiserver") startApiserver(bin);
  else if (name === "kueue") await startKueue(bin);
  else if (name === "karpenter") await startKarpenter(bin);
  else if (REAL_NODE_COMPONENTS.includes(name as RealNodeComponent))
    await (await import("./realnode.ts")).upRealNode(bin);
  else startControllers(bin);
  if (name === "kube-apiserver")
    await poll(async () => (await apiGet("/readyz")).status === 200, 120_000, "kube-apiserver");
}

/**
 * Compacts etcd's history up to its current revision (chaos tests), through etcd's JSON gateway: every
 * resourceVersion seen so far becomes too old to watch from, which the apiserver answers with 410 Gone.
 */
export async function compactEtcd(): Promise<number> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${ETCD_URL}${path}`, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { header?: { revision?: string } };
  };
  const revision = Number(
    (await post("/v3/kv/range", { key: Buffer.from("compact").toString("base64") })).header?.revision,
  );
  await post("/v3/kv/compaction", { revision, physical: true });
  return revision;
}

export function running(): Component[] {
  if (!existsSync(PIDS)) return [];
  return readdirSync(PIDS)
    .map((f) => f.replace(/\.pid$/, "") as Component)
    .filter((n) => pidOf(n) !== undefined);
}
