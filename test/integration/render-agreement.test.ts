// `collab-operator render` and `kubectl apply` against the real apiserver agree on every manifest: the hand-written
// YAML table (kubectl's YAML: booleans, nulls, duplicate keys, numbers), the examples, and the object tables of
// test/fixtures as YAML text. Both accept it with the same spec, or both refuse it, naming the same field.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseJob } from "../../src/verl/render.ts";
import { binaries, KUBECONFIG, ROOT } from "../cluster/cluster.ts";
import { objectCases, TEXT_CASES, type TextCase } from "../fixtures/manifests.ts";
import { testNamespace } from "./kube.ts";

const run = promisify(execFile);

type Outcome = { ok: true; spec: Record<string, unknown> } | { ok: false; message: string };

/** What kubectl says when it got no answer from the apiserver, as opposed to a refusal. */
const TRANSPORT_FAILURE =
  /Unable to connect|timeout|timed out|connection refused|connection reset|EOF|unable to handle the request|TLS handshake/i;

/** `kubectl apply --dry-run=server` with kubectl's defaults (--validate=strict). */
async function kubectlApply(bin: string, namespace: string, text: string): Promise<Outcome> {
  for (let tries = 1; ; tries++) {
    const child = run(
      join(bin, "kubectl"),
      ["--kubeconfig", KUBECONFIG, "apply", "--dry-run=server", "-n", namespace, "-o", "json", "-f", "-"],
      { encoding: "utf8" },
    );
    child.child.stdin?.end(text);
    try {
      const { stdout } = await child;
      const printed = JSON.parse(stdout) as {
        spec: Record<string, unknown>;
        items?: { spec: Record<string, unknown> }[];
      };
      return { ok: true, spec: (printed.items?.[0] ?? printed).spec };
    } catch (error) {
      const message = String((error as { stderr?: string }).stderr ?? "");
      // A refusal always says why; a kubectl that died without a word, or could not reach the apiserver in time (a
      // busy machine), is asked again.
      const unanswered = message.trim() === "" || TRANSPORT_FAILURE.test(message);
      if (!unanswered || tries === 3) return { ok: false, message: message || String(error) };
    }
  }
}

function render(text: string): Outcome {
  const parsed = parseJob(text);
  return parsed.ok
    ? { ok: true, spec: JSON.parse(JSON.stringify(parsed.job.spec)) }
    : { ok: false, message: parsed.errors.join("\n") };
}

/** The CollabTrainingJob document of each example, without its namespace (the test's is used). */
function exampleCases(): TextCase[] {
  return readdirSync(join(ROOT, "examples"))
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((file) => {
      const text = readFileSync(join(ROOT, "examples", file), "utf8");
      return parseAllDocuments(text)
        .filter((d) => (d.toJS() as { kind?: string } | null)?.kind === "CollabTrainingJob")
        .map((d) => {
          const [start, , end] = d.range;
          return { name: `example ${file}`, text: text.slice(start, end).replace(/^ {2}namespace: .*\n/m, "") };
        });
    });
}

describe("render and kubectl apply agree", () => {
  let bin: string;
  let ns: string;
  const outcomes = new Map<string, Promise<Outcome>>();
  const all = [...TEXT_CASES, ...exampleCases(), ...objectCases()];

  beforeAll(async () => {
    bin = binaries();
    ns = await testNamespace("agree");
    // kubectl starts are the slow part: four at a time.
    const queue = [...all];
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const outcome = kubectlApply(bin, ns, c.text);
        outcomes.set(c.name, outcome);
        await outcome;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }, 300_000);

  it("has one name per case", () => expect(new Set(all.map((c) => c.name)).size).toBe(all.length));

  it.each(all)("$name", async ({ name, text, field, spec }) => {
    const server = await outcomes.get(name)!;
    const ours = render(text);
    const said = server.ok ? "kubectl accepted it" : `kubectl said: ${server.message}`;
    expect({ accepted: ours.ok, render: ours.ok ? "" : ours.message }, said).toMatchObject({
      accepted: server.ok,
      ...(server.ok ? { render: "" } : {}),
    });
    if (server.ok && ours.ok) {
      expect(ours.spec).toEqual(server.spec);
      spec?.(server.spec);
    }
    if (!server.ok && !ours.ok && field !== undefined) {
      expect(server.message).toContain(field);
      expect(ours.message).toContain(`${field}:`);
    }
  });
});
