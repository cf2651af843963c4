// Where the operator's API credentials come from: an explicit file (--kubeconfig), else $KUBECONFIG (a
// colon-separated list, merged as kubectl does: the first file to name a context, cluster or user wins), else the
// pod's service account. A missing config never falls back to ~/.kube/config, so a pod cannot silently talk to a
// developer's cluster.
//
// The result has the shape of client-node's KubeConfig where the runtime reads it (getCurrentCluster,
// getCurrentUser, with client-node's Cluster and User records), so a client-node KubeConfig works wherever this one
// does. It is not client-node's class because loading client-node costs the process more resident memory than the
// cache of thousands of jobs (docs/runtime.md, "Kubeconfig", has the measurement); client-node is loaded only for
// credentials the runtime does not read itself (see http.ts).
import { readFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import { delimiter, dirname, isAbsolute, resolve } from "node:path";
import type { Cluster, User } from "@kubernetes/client-node";
import { parse } from "yaml";

/** What the runtime needs of a kubeconfig; client-node's KubeConfig has it too. */
export interface KubeConfig {
  getCurrentCluster(): Cluster | null;
  getCurrentUser(): User | null;
}

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

class LoadedConfig implements KubeConfig {
  readonly #cluster: Cluster;
  readonly #user: User;
  constructor(cluster: Cluster, user: User) {
    this.#cluster = cluster;
    this.#user = user;
  }
  getCurrentCluster(): Cluster {
    return this.#cluster;
  }
  getCurrentUser(): User {
    return this.#user;
  }
}

export function loadKubeConfig(path?: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  if (path) return fromFiles([path]);
  const files = (env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  if (files.length > 0) return fromFiles(files);
  return inCluster(env);
}

/** The pod's service account, as client-node's loadFromCluster reads it (the token file is re-read every minute). */
function inCluster(env: NodeJS.ProcessEnv): KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error("no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a pod (KUBERNETES_SERVICE_HOST)");
  }
  const scheme = port === "80" || port === "8080" || port === "8001" ? "http" : "https";
  return new LoadedConfig(
    {
      name: "inCluster",
      server: `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`,
      caFile: `${SERVICE_ACCOUNT}/ca.crt`,
      skipTLSVerify: false,
    },
    { name: "inClusterUser", authProvider: { name: "tokenFile", config: { tokenFile: `${SERVICE_ACCOUNT}/token` } } },
  );
}

type Named<T> = { name?: string } & T;
interface RawConfig {
  "current-context"?: string;
  contexts?: Named<{ context?: { cluster?: string; user?: string } }>[];
  clusters?: Named<{ cluster?: Record<string, unknown> }>[];
  users?: Named<{ user?: Record<string, unknown> }>[];
}

function fromFiles(files: string[]): KubeConfig {
  const contexts = new Map<string, { cluster?: string; user?: string }>();
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  let current: string | undefined;
  for (const file of files) {
    const raw = (parse(readFileSync(file, "utf8")) ?? {}) as RawConfig;
    const dir = dirname(resolve(file));
    current ??= raw["current-context"] || undefined;
    for (const c of raw.contexts ?? []) if (c.name && !contexts.has(c.name)) contexts.set(c.name, c.context ?? {});
    for (const c of raw.clusters ?? []) {
      if (c.name && !clusters.has(c.name)) clusters.set(c.name, clusterOf(c.name, c.cluster ?? {}, dir, file));
    }
    for (const u of raw.users ?? [])
      if (u.name && !users.has(u.name)) users.set(u.name, userOf(u.name, u.user ?? {}, dir));
  }
  const where = files.join(delimiter);
  if (!current) throw new Error(`kubeconfig ${where}: no current-context`);
  const context = contexts.get(current);
  if (!context) throw new Error(`kubeconfig ${where}: context ${current} not found`);
  const cluster = context.cluster ? clusters.get(context.cluster) : undefined;
  if (!cluster) throw new Error(`kubeconfig ${where}: cluster ${context.cluster} of context ${current} not found`);
  const user = (context.user ? users.get(context.user) : undefined) ?? { name: context.user ?? "" };
  return new LoadedConfig(cluster, user);
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
/** Relative paths in a kubeconfig are relative to the file, as kubectl and client-node read them. */
const pathIn = (dir: string, v: unknown) => {
  const p = str(v);
  return p && !isAbsolute(p) ? resolve(dir, p) : p;
};

function clusterOf(name: string, c: Record<string, unknown>, dir: string, file: string): Cluster {
  const server = str(c.server);
  if (!server) throw new Error(`kubeconfig ${file}: clusters[${name}].cluster.server is missing`);
  return {
    name,
    server: server.replace(/\/$/, ""),
    caData: str(c["certificate-authority-data"]),
    caFile: pathIn(dir, c["certificate-authority"]),
    skipTLSVerify: c["insecure-skip-tls-verify"] === true,
    tlsServerName: str(c["tls-server-name"]),
    proxyUrl: str(c["proxy-url"]),
  };
}

function userOf(name: string, u: Record<string, unknown>, dir: string): User {
  const tokenFile = pathIn(dir, u["token-file"]);
  const exec = u.exec as User["exec"];
  return {
    name,
    certData: str(u["client-certificate-data"]),
    certFile: pathIn(dir, u["client-certificate"]),
    keyData: str(u["client-key-data"]),
    keyFile: pathIn(dir, u["client-key"]),
    // As client-node: a token file is read once, at load.
    token: str(u.token) ?? (tokenFile ? readFileSync(tokenFile, "utf8").trim() : undefined),
    username: str(u.username),
    password: str(u.password),
    authProvider: u["auth-provider"] as User["authProvider"],
    exec,
    impersonateUser: str(u.as),
  };
}
