// The runtime's credentials against a local HTTP server that records what it is sent: each kind of kubeconfig user
// ends up as the header the apiserver expects, including an exec plugin (handed to client-node's authenticators).
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { ApiError, readBody, request, send } from "../../../src/runtime/http.ts";
import { loadKubeConfig } from "../../../src/runtime/kubeconfig.ts";

const seen: IncomingHttpHeaders[] = [];
const server = createServer((req, res) => {
  seen.push(req.headers);
  if (req.url?.startsWith("/missing")) {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", code: 404, message: "nothing here" }));
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ ok: true, path: req.url }));
});
let url = "";
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function kubeconfig(user: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "kc-"));
  const path = join(dir, "config");
  writeFileSync(
    path,
    stringify({
      "current-context": "c",
      contexts: [{ name: "c", context: { cluster: "local", user: "u" } }],
      clusters: [{ name: "local", cluster: { server: url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "u", user }],
    }),
  );
  return path;
}

async function headersFor(user: Record<string, unknown>): Promise<IncomingHttpHeaders> {
  const kc = loadKubeConfig(kubeconfig(user), {});
  const body = await request<{ path: string }>(kc, { method: "GET", path: "/api", query: { limit: 5, x: undefined } });
  expect(body.path).toBe("/api?limit=5");
  return seen.at(-1) as IncomingHttpHeaders;
}

describe("request credentials", () => {
  it("sends a bearer token, basic auth, impersonation", async () => {
    expect((await headersFor({ token: "t0k" })).authorization).toBe("Bearer t0k");
    expect((await headersFor({ username: "me", password: "pw" })).authorization).toBe(
      `Basic ${Buffer.from("me:pw").toString("base64")}`,
    );
    expect((await headersFor({ token: "t", as: "alice" }))["impersonate-user"]).toBe("alice");
  });

  it("reads a service-account style token file and re-reads it after a minute", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tok-"));
    writeFileSync(join(dir, "token"), "first\n");
    const user = { "auth-provider": { name: "tokenFile", config: { tokenFile: join(dir, "token") } } };
    const kc = loadKubeConfig(kubeconfig(user), {});
    const sent = async () => {
      await request(kc, { method: "GET", path: "/api" });
      return seen.at(-1)?.authorization;
    };
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      expect(await sent()).toBe("Bearer first");
      writeFileSync(join(dir, "token"), "rotated\n"); // the kubelet rotates the projected token
      expect(await sent()).toBe("Bearer first");
      vi.setSystemTime(Date.now() + 61_000);
      expect(await sent()).toBe("Bearer rotated");
    } finally {
      vi.useRealTimers();
    }
  });

  it("runs an exec credential plugin through client-node", async () => {
    const dir = mkdtempSync(join(tmpdir(), "exec-"));
    const plugin = join(dir, "plugin.sh");
    writeFileSync(
      plugin,
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec"}}'\n`,
    );
    chmodSync(plugin, 0o755);
    const user = { exec: { apiVersion: "client.authentication.k8s.io/v1", command: plugin, interactiveMode: "Never" } };
    expect((await headersFor(user)).authorization).toBe("Bearer from-exec");
  });

  it("turns a non-2xx answer into ApiError with the status and the server's message", async () => {
    const kc = loadKubeConfig(kubeconfig({ token: "t" }), {});
    const err = await request(kc, { method: "GET", path: "/missing" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(404);
    expect((err as ApiError).message).toMatch(/nothing here/);
  });

  it("lets go of a response's body once it is read (a pooled socket keeps its last response reachable)", async () => {
    const kc = loadKubeConfig(kubeconfig({ token: "t" }), {});
    const leftOnError: unknown[] = [];
    for (const path of ["/api", "/missing"]) {
      const res = await send(kc, { method: "GET", path });
      const events = ["data", "end", "aborted"] as const;
      const before = events.map((e) => res.listenerCount(e));
      const errorBefore = res.listeners("error");
      expect(JSON.parse(await readBody(res)).path ?? path).toBe(path);
      // Node's own listeners may stay; every one readBody added is gone, but for one 'error' listener (an 'error'
      // with none would throw) that is the same function for every response: no closure over this body.
      expect(events.map((e) => res.listenerCount(e))).toEqual(before);
      const added = res.listeners("error").filter((l) => !errorBefore.includes(l));
      expect(added.length).toBeLessThanOrEqual(1);
      leftOnError.push(...added);
    }
    expect(new Set(leftOnError).size).toBeLessThanOrEqual(1);
  });

  it("refuses plain http without insecure-skip-tls-verify, and proxies", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kc-"));
    const write = (cluster: Record<string, unknown>) => {
      const path = join(dir, `c${Math.random()}`);
      writeFileSync(
        path,
        stringify({
          "current-context": "c",
          contexts: [{ name: "c", context: { cluster: "x", user: "u" } }],
          clusters: [{ name: "x", cluster }],
          users: [{ name: "u", user: {} }],
        }),
      );
      return loadKubeConfig(path, {});
    };
    await expect(request(write({ server: "http://127.0.0.1:1" }), { method: "GET", path: "/" })).rejects.toThrow(
      /insecure-skip-tls-verify/,
    );
    await expect(
      request(write({ server: "https://127.0.0.1:1", "proxy-url": "http://proxy:3128" }), { method: "GET", path: "/" }),
    ).rejects.toThrow(/proxy-url is not supported/);
  });
});
