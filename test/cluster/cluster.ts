// The local control plane: etcd, kube-apiserver (TLS, RBAC), kube-controller-manager, kube-scheduler and KWOK, all
// on loopback, started as detached processes so the cluster outlives the command that started it. State lives in
// .cluster/ (git-ignored): PKI, kubeconfig, etcd data, logs, and one pid file per process we started.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { FLEET, nodeObject } from "./fleet.ts";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DIR = process.env.COLLAB_CLUSTER_DIR ?? join(ROOT, ".cluster");
export const KUBECONFIG = join(DIR, "kubeconfig");
const PKI = join(DIR, "pki");
const LOGS = join(DIR, "logs");
const PIDS = join(DIR, "pids");

const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const ETCD_PORT = port("COLLAB_CLUSTER_ETCD_PORT", 23790);
const API_PORT = port("COLLAB_CLUSTER_API_PORT", 16443);
const KWOK_PORT = port("COLLAB_CLUSTER_KWOK_PORT", 10247);
export const API_SERVER = `https://127.0.0.1:${API_PORT}`;
const ETCD_URL = `http://127.0.0.1:${ETCD_PORT}`;

const log = (msg: string) => process.stderr.write(`[cluster] ${msg}\n`);

/** Builds (once) or finds the binaries; returns the directory of links to them. */
export function binaries(): string {
  const out = execFileSync("bash", [join(ROOT, "test/cluster/build-bins.sh")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.toString().trim();
}

// ---- PKI: one CA; one system:masters cert serves TLS, authenticates clients and signs service account tokens ----

function ensurePKI(): void {
  if (existsSync(join(PKI, "admin.crt"))) return;
  log("creating certificates");
  mkdirSync(PKI, { recursive: true });
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: PKI, stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ssl(
    "req",
    "-x509",
    ...ec,
    "-days",
    "3650",
    "-subj",
    "/CN=collab-test-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  );
  ssl("req", ...ec, "-subj", "/O=system:masters/CN=collab-admin", "-keyout", "admin.key", "-out", "admin.csr");
  writeFileSync(
    join(PKI, "admin.ext"),
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth,clientAuth",
      "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1",
    ].join("\n"),
  );
  ssl(
    "x509",
    "-req",
    "-in",
    "admin.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "3650",
    "-extfile",
    "admin.ext",
    "-out",
    "admin.crt",
  );
  ssl("genrsa", "-out", "sa.key", "2048");
  ssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub");
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

export type Component = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kwok";

function pidOf(name: Component): number | undefined {
  const file = join(PIDS, `${name}.pid`);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8"));
  // A pid file may outlive its process and the pid be reused: only a process running our binary counts.
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.split("\0")[0]?.endsWith(`/${name}`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function start(bin: string, name: Component, args: string[]): void {
  if (pidOf(name) !== undefined) return;
  log(`starting ${name}`);
  mkdirSync(LOGS, { recursive: true });
  mkdirSync(PIDS, { recursive: true });
  const out = openSync(join(LOGS, `${name}.log`), "a");
  const child = spawn(join(bin, name), args, { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  writeFileSync(join(PIDS, `${name}.pid`), String(child.pid));
  child.unref();
}

async function stop(name: Component): Promise<void> {
  const pid = pidOf(name);
  rmSync(join(PIDS, `${name}.pid`), { force: true });
  if (pid === undefined) return;
  log(`stopping ${name}`);
  process.kill(pid, "SIGTERM");
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

async function poll(check: () => Promise<boolean>, timeoutMs: number, what = "condition"): Promise<true> {
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

function startApiserver(bin: string): void {
  start(bin, "kube-apiserver", [
    `--etcd-servers=${ETCD_URL}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1", // a sandbox has no default route to derive it from
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
    // As envtest: no ServiceAccount admission, so test namespaces need no default service account first.
    "--disable-admission-plugins=ServiceAccount",
    // As OpenShift and hardened clusters: setting blockOwnerDeletion needs update on the owner's finalizers, so the
    // chart's RBAC test sees that rule used (test/integration/rbac.test.ts).
    "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
    "--allow-privileged=true",
    "--max-requests-inflight=0",
    "--max-mutating-requests-inflight=0",
    "--enable-priority-and-fairness=false",
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

/** KWOK v0.8 has no built-in stages: upstream's node and pod stages from its module, plus ours. */
function writeKwokConfig(bin: string): string {
  const upstream = join(bin, "kwok-stages");
  const files = [
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-delete.yaml",
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

/** Starts whatever is not running yet and waits until pods can be scheduled. Idempotent. */
export async function up(): Promise<void> {
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
  log(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s; kubeconfig: ${KUBECONFIG}`);
}

const ORDER: Component[] = ["kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"];

/** Stops every process this harness started (and nothing else) and forgets the cluster's data. */
export async function down(): Promise<void> {
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
