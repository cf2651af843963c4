// The operator image without a container engine: the top-level Dockerfile is parsed and held to the rules the
// image must keep (multi-stage, Node 24, production dependencies only, numeric non-root user, node as PID 1 in exec
// form), and the build stage's own COPY and RUN lines are replayed into a temporary directory, from which `run` and
// `gateway` start as that user, answer --help and /healthz, and exit 0 on SIGTERM.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validate } from "dockerfile-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { argDefault, args, DOCKERFILE_TEXT, lineOf, replayBuildStage, stages } from "../../cluster/dockerfile.ts";
import { imageNodeFlags } from "../../cluster/node-flags.ts";

const ROOT = join(import.meta.dirname, "../../..");
const text = DOCKERFILE_TEXT;
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
/** The image's user: the test runs the replayed install as it when it can (as root). */
const UID = 65532;
const ARG_DEFAULT = argDefault;

describe("Dockerfile", () => {
  const [build, runtime] = stages();

  it("has no lint problems (dockerfile-utils)", () => {
    expect(validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it("builds in one stage and runs from a second: Node 24, the version package.json pins", () => {
    expect(stages()).toHaveLength(2);
    expect(ARG_DEFAULT("NODE_VERSION")).toBe(pkg.devDependencies.node);
    expect(build?.from).toBe(["node:$", "{NODE_VERSION}-trixie-slim"].join(""));
    expect(runtime?.from).toBe("gcr.io/distroless/nodejs24-debian13:nonroot");
  });

  it("installs production dependencies only, from the lock file, without install scripts", () => {
    const runs = build!.instructions.filter((i) => i.getKeyword() === "RUN").map((i) => args(i).join(" "));
    expect(runs).toEqual(["npm ci --omit=dev --ignore-scripts --no-audit --no-fund"]);
    expect(text).not.toMatch(/^ADD /m);
  });

  it("runs as a numeric non-root user, node as PID 1 in exec form, `run` by default", () => {
    const last = (keyword: string) => runtime!.instructions.filter((i) => i.getKeyword() === keyword).at(-1);
    expect(args(last("USER")!)).toEqual([`${UID}:${UID}`]);
    // Exec form: no shell in between, so SIGTERM reaches node, which handles it (see the last test).
    expect(JSON.parse(lineOf(last("ENTRYPOINT")!))).toEqual([
      "/nodejs/bin/node",
      "--max-semi-space-size=8",
      "--heap-growing-percent=50",
      "--memory-saver-mode",
      "/app/src/cli.ts",
    ]);
    expect(JSON.parse(lineOf(last("CMD")!))).toEqual(["run"]);
    expect(lineOf(runtime!.instructions.find((i) => i.getKeyword() === "COPY")!)).toBe("--from=build /app /app");
  });

  it("sends only what it copies: .dockerignore admits exactly the COPY sources", () => {
    const sources = build!.instructions
      .filter((i) => i.getKeyword() === "COPY")
      .flatMap((i) => args(i).slice(0, -1))
      .sort();
    const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    expect(ignore[0]).toBe("*");
    expect(
      ignore
        .slice(1)
        .map((l) => l.replace(/^!/, "").replace(/\/$/, ""))
        .sort(),
    ).toEqual(sources);
  });
});

describe("the image's production install, replayed into a temporary directory", () => {
  let root: string;
  let app: string;
  /** The image's /nodejs/bin/node: a copy, since the image's user may not reach this checkout's (a private parent). */
  let node: string;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "image-"));
    chmodSync(root, 0o755);
    app = replayBuildStage(root);
    node = join(root, "node");
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
  }, 300_000);

  afterAll(() => {
    for (const child of children) child.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  });

  /** Starts the image's entrypoint with `argv`, as the image's user when this test runs as root. */
  function start(argv: string[], env: Record<string, string> = {}): ChildProcess & { output: () => string } {
    const asImageUser = process.getuid?.() === 0 ? { uid: UID, gid: UID } : {};
    const child = spawn(node, [...imageNodeFlags(), join(app, "src/cli.ts"), ...argv], {
      cwd: app,
      env: { PATH: "/usr/bin:/bin", HOME: "/nonexistent", NODE_ENV: "production", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      ...asImageUser,
    });
    children.push(child);
    let output = "";
    child.stdout?.on("data", (d) => {
      output += d;
    });
    child.stderr?.on("data", (d) => {
      output += d;
    });
    return Object.assign(child, { output: () => output });
  }

  it("holds the lock file's production packages and none of its dev-only ones, and the files the Dockerfile copies", () => {
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const entries = Object.entries(lock.packages).filter(([path]) => path.startsWith("node_modules/"));
    const present = (path: string) => existsSync(join(app, path));
    expect(entries.filter(([path, e]) => e.dev && present(path)).map(([path]) => path)).toEqual([]);
    expect(entries.filter(([path, e]) => !e.dev && !present(path)).map(([path]) => path)).toEqual([]);
    expect(readdirSync(app).sort()).toEqual(["node_modules", "package-lock.json", "package.json", "src"]);
  });

  it.each([["run"], ["gateway"]])("`%s --help` answers", async (command) => {
    const child = start([command, "--help"]);
    const [code] = await once(child, "exit");
    expect(child.output()).toContain(`usage: collab-operator ${command}`);
    expect(code).toBe(0);
  });

  it("`run` serves /healthz, and exits 0 on SIGTERM", async () => {
    // No reachable apiserver is needed for /healthz: the replica stands by, campaigning in the background.
    const kubeconfig = join(root, "kubeconfig");
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
        "current-context": "c",
      }),
    );
    chmodSync(kubeconfig, 0o644);
    const child = start(["run", "--port=0", "--report-port=0", "--log-level=info"], { KUBECONFIG: kubeconfig });
    const port = await loggedPort(child, /"serving \/healthz/, (line) => line.port);
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).toBe("ok");
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
  }, 30_000);

  it("`gateway` serves /healthz, and exits 0 on SIGTERM", async () => {
    const child = start(
      ["gateway", "--role=judge", "--listen=127.0.0.1:0", "--upstream-base-url=http://127.0.0.1:1/v1"],
      { COLLAB_GATEWAY_TOKEN: "t", COLLAB_GATEWAY_UPSTREAM_MODEL: "m" },
    );
    const port = await loggedPort(child, /"gateway listening"/, (line) => Number(line.listen.split(":").at(-1)));
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
  }, 30_000);
});

async function loggedPort(
  child: ChildProcess & { output: () => string },
  pattern: RegExp,
  port: (line: any) => number,
): Promise<number> {
  for (let waited = 0; waited < 30_000; waited += 100) {
    const line = child
      .output()
      .split("\n")
      .find((l) => pattern.test(l));
    if (line) return port(JSON.parse(line));
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${child.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no line matching ${pattern}: ${child.output()}`);
}
