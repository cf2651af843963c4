// The real node itself (test/cluster/realnode.ts): what every other test on it relies on. Pods land on it only when
// they ask; it advertises GPUs; Services route and have names; the apiserver answers a pod with its ServiceAccount's
// token; nothing leaves the machine; teardown leaves nothing behind.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { up } from "../cluster/cluster.ts";
import { allImages } from "../cluster/images.ts";
import {
  downRealNode,
  leftovers,
  REAL_NODE,
  REAL_NODE_GPUS,
  REAL_NODE_LABEL,
  REAL_NODE_TAINT,
} from "../cluster/realnode.ts";
import { core, testNamespace } from "./kube.ts";
import { podResult, runPod, runToEnd } from "./realnode.ts";

let images: ReturnType<typeof allImages>;

beforeAll(async () => {
  await up({ realnode: true });
  images = allImages();
}, 1_800_000);

describe("the real node", () => {
  it("is Ready with its GPUs, label and taint, beside the KWOK fleet", async () => {
    const node = await core.readNode({ name: REAL_NODE });
    expect(node.status?.capacity?.["nvidia.com/gpu"]).toBe(String(REAL_NODE_GPUS));
    expect(node.status?.allocatable?.["nvidia.com/gpu"]).toBe(String(REAL_NODE_GPUS));
    expect(node.metadata?.labels?.[REAL_NODE_LABEL]).toBe("true");
    expect(node.spec?.taints).toContainEqual(expect.objectContaining(REAL_NODE_TAINT));
    expect(node.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.37\./);
    expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
  });

  it("runs what it is given: a real exit code and a real log", async () => {
    const ns = await testNamespace("rn");
    await runPod(ns, "exit3", images.trainer.ref, ["bash", "-c", "echo from-a-real-container; exit 3"]);
    expect(await podResult(ns, "exit3")).toMatchObject({
      phase: "Failed",
      exitCode: 3,
      log: "from-a-real-container\n",
    });
  });

  it("resolves Service names and routes ClusterIPs; the apiserver answers a pod with its ServiceAccount's token", async () => {
    const ns = await testNamespace("rn");
    // A server pod behind a Service, and a client pod reaching it by name, the apiserver by its in-cluster address.
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "server", labels: { app: "server" } },
        spec: {
          nodeSelector: { [REAL_NODE_LABEL]: "true" },
          tolerations: [{ key: REAL_NODE_TAINT.key, operator: "Exists" }],
          automountServiceAccountToken: false,
          containers: [
            {
              name: "main",
              image: images.trainer.ref,
              imagePullPolicy: "Never",
              command: ["python3", "-m", "http.server", "8000"],
            },
          ],
        },
      },
    });
    await core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: { selector: { app: "server" }, ports: [{ port: 80, targetPort: 8000 }] },
      },
    });
    const script = [
      "import json, os, socket, ssl, time, urllib.request",
      "for _ in range(60):",
      "    try:",
      "        body = urllib.request.urlopen('http://web/', timeout=2).read(); break",
      "    except Exception as e:",
      "        time.sleep(1)",
      "print('service', len(body) > 0)",
      "sa = '/var/run/secrets/kubernetes.io/serviceaccount'",
      "ctx = ssl.create_default_context(cafile=sa + '/ca.crt')",
      "req = urllib.request.Request('https://%s:%s/version' % (os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT']),",
      "    headers={'Authorization': 'Bearer ' + open(sa + '/token').read()})",
      "print('apiserver', json.load(urllib.request.urlopen(req, context=ctx))['gitVersion'])",
      "req = urllib.request.Request('https://kubernetes.default.svc/api/v1/namespaces/%s/pods' % open(sa + '/namespace').read(),",
      "    headers={'Authorization': 'Bearer ' + open(sa + '/token').read()})",
      "try:",
      "    urllib.request.urlopen(req, context=ctx)",
      "except urllib.error.HTTPError as e:",
      "    print('rbac', e.code, json.load(e)['message'])",
      "try:",
      "    socket.create_connection(('1.1.1.1', 443), timeout=3)",
      "    print('off the machine: reached')",
      "except OSError as e:",
      "    print('off the machine:', e.strerror)",
    ].join("\n");
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "client" },
        spec: {
          nodeSelector: { [REAL_NODE_LABEL]: "true" },
          tolerations: [{ key: REAL_NODE_TAINT.key, operator: "Exists" }],
          restartPolicy: "Never",
          containers: [
            { name: "main", image: images.trainer.ref, imagePullPolicy: "Never", command: ["python3", "-c", script] },
          ],
        },
      },
    });
    const { log, exitCode } = await podResult(ns, "client");
    expect(exitCode, log).toBe(0);
    expect(log).toContain("service True");
    expect(log).toContain("apiserver v1.37.2");
    // Authenticated as the namespace's default ServiceAccount, which RBAC lets list nothing.
    expect(log).toMatch(new RegExp(`rbac 403 .*system:serviceaccount:${ns}:default`));
    expect(log).toContain("off the machine: Network is unreachable");
  });

  it("takes only pods meant for it: a pod without the toleration goes to a KWOK node", async () => {
    const ns = await testNamespace("rn");
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "elsewhere" },
        spec: { containers: [{ name: "main", image: images.trainer.ref, command: ["true"] }] },
      },
    });
    await expect
      .poll(async () => (await core.readNamespacedPod({ namespace: ns, name: "elsewhere" })).spec?.nodeName, {
        timeout: 30_000,
      })
      .toMatch(/.+/);
    expect((await core.readNamespacedPod({ namespace: ns, name: "elsewhere" })).spec?.nodeName).not.toBe(REAL_NODE);
  });
});

describe("teardown", () => {
  const forward = () => readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim();
  let before: string;
  beforeAll(() => {
    before = forward();
  });

  it("leaves no process, mount, namespace or link, and the host's ip_forward as it was; a new start works", async () => {
    const ns = await testNamespace("rn");
    // Something running when the node goes: its container, shim, mounts and network must go too.
    await runPod(ns, "busy", images.trainer.ref, ["sleep", "3600"]);
    await expect
      .poll(async () => (await core.readNamespacedPod({ namespace: ns, name: "busy" })).status?.phase, {
        timeout: 60_000,
      })
      .toBe("Running");
    await downRealNode();
    expect(leftovers()).toEqual([]);
    expect(forward()).toBe(before);
    await up({ realnode: true });
    expect(await runToEnd(ns, "after", images.trainer.ref, ["echo", "back"])).toBe("back\n");
  }, 600_000);
});

// The cluster's next test file finds the fleet it was written for.
afterAll(() => downRealNode(), 120_000);
