import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadKubeConfig } from "../../../src/runtime/kubeconfig.ts";

function write(dir: string, name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof config === "string" ? config : stringify(config));
  return path;
}

const config = (context: string, cluster: Record<string, unknown>, user: Record<string, unknown>) => ({
  apiVersion: "v1",
  kind: "Config",
  "current-context": context,
  contexts: [{ name: context, context: { cluster: `${context}-cluster`, user: `${context}-user` } }],
  clusters: [{ name: `${context}-cluster`, cluster }],
  users: [{ name: `${context}-user`, user }],
});

describe("loadKubeConfig", () => {
  it("reads the current context's cluster and user in client-node's shape, paths relative to the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "kc-"));
    writeFileSync(join(dir, "token"), "file-token\n");
    const path = write(
      dir,
      "config",
      config(
        "dev",
        { server: "https://10.0.0.1:6443/", "certificate-authority": "pki/ca.crt", "tls-server-name": "kube" },
        { "client-certificate-data": "Y2VydA==", "client-key": "/abs/key.pem", "token-file": "token", as: "someone" },
      ),
    );
    const kc = loadKubeConfig(path, {});
    expect(kc.getCurrentCluster()).toMatchObject({
      name: "dev-cluster",
      server: "https://10.0.0.1:6443",
      caFile: join(dir, "pki/ca.crt"),
      skipTLSVerify: false,
      tlsServerName: "kube",
    });
    expect(kc.getCurrentUser()).toMatchObject({
      name: "dev-user",
      certData: "Y2VydA==",
      keyFile: "/abs/key.pem",
      token: "file-token",
      impersonateUser: "someone",
    });
  });

  it("merges $KUBECONFIG files: the first to name a context, cluster or user wins", () => {
    const dir = mkdtempSync(join(tmpdir(), "kc-"));
    const first = write(dir, "a", {
      "current-context": "prod",
      contexts: [{ name: "prod", context: { cluster: "c", user: "u" } }],
    });
    const second = write(dir, "b", {
      "current-context": "other",
      clusters: [{ name: "c", cluster: { server: "https://prod:443" } }],
      users: [{ name: "u", user: { token: "t" } }],
    });
    const kc = loadKubeConfig(undefined, { KUBECONFIG: [first, second].join(delimiter) });
    expect(kc.getCurrentCluster()?.server).toBe("https://prod:443");
    expect(kc.getCurrentUser()?.token).toBe("t");
  });

  it("prefers the explicit path to $KUBECONFIG, and names what is missing", () => {
    const dir = mkdtempSync(join(tmpdir(), "kc-"));
    const good = write(dir, "good", config("x", { server: "https://x" }, {}));
    expect(loadKubeConfig(good, { KUBECONFIG: "/nonexistent" }).getCurrentCluster()?.server).toBe("https://x");
    const noContext = write(dir, "none", { contexts: [] });
    expect(() => loadKubeConfig(noContext, {})).toThrow(/no current-context/);
    const noServer = write(dir, "noserver", config("x", {}, {}));
    expect(() => loadKubeConfig(noServer, {})).toThrow(/server is missing/);
    const dangling = write(dir, "dangling", {
      "current-context": "x",
      contexts: [{ name: "x", context: { cluster: "gone" } }],
    });
    expect(() => loadKubeConfig(dangling, {})).toThrow(/cluster gone of context x not found/);
  });

  it("uses the service account in a pod, and never ~/.kube/config", () => {
    const kc = loadKubeConfig(undefined, { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" });
    expect(kc.getCurrentCluster()).toMatchObject({
      server: "https://[fd00::1]:443",
      caFile: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    });
    expect(kc.getCurrentUser()?.authProvider).toEqual({
      name: "tokenFile",
      config: { tokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token" },
    });
    expect(() => loadKubeConfig(undefined, { HOME: "/root" })).toThrow(/no kubeconfig/);
  });
});
