// `npm run start:local`: the local cluster, the CRD, the operator, and the quickstart job with its Secret, watched
// with `kubectl get ctj -w` until it finishes. KWOK's nodes run no containers, so this script plays the trainer's
// part: a few seconds after a pod of the job is Running it marks it Succeeded (the sim.collabllm.io/outcome
// annotation of test/cluster/sim-stages.yaml), and says so. Everything else is the real operator at work.
import { spawn } from "node:child_process";
import { openSync } from "node:fs";
import { join } from "node:path";
import { binaries, KUBECONFIG, kubectl, ROOT, up } from "./cluster.ts";

const NAMESPACE = "quickstart";
const POD_SECONDS = 5;
const say = (msg: string) => process.stdout.write(`[quickstart] ${msg}\n`);

export async function quickstart(opts: { exitWhenDone: boolean }): Promise<void> {
  await up();
  const bin = binaries();
  kubectl(bin, ["apply", "-f", join(ROOT, "examples/quickstart.yaml")]);
  const logFile = join(ROOT, ".cluster/logs/operator.log");
  const operator = spawn(
    process.execPath,
    [
      join(ROOT, "src/cli.ts"),
      "run",
      `--namespaces=${NAMESPACE}`,
      "--leader-elect=false",
      "--port=0",
      "--report-port=0",
    ],
    { env: { ...process.env, KUBECONFIG }, stdio: ["ignore", openSync(logFile, "a"), openSync(logFile, "a")] },
  );
  say(`operator started (pid ${operator.pid}); its logs: ${logFile}`);
  const watch = spawn(join(bin, "kubectl"), ["--kubeconfig", KUBECONFIG, "-n", NAMESPACE, "get", "ctj", "-w"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  // Passed through, and kept so the script stops the watch only after it has shown the final phase.
  let watched = "";
  watch.stdout.on("data", (data: Buffer) => {
    watched += data.toString();
    process.stdout.write(data);
  });
  const stop = () => {
    watch.kill();
    operator.kill("SIGTERM");
  };
  process.once("SIGINT", () => {
    stop();
    process.exit(0);
  });

  const ending = new Set<string>();
  let finished: Finished | undefined;
  while (!finished) {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      finished = step(bin, ending);
    } catch (err) {
      say(`retrying: ${(err as Error).message.split("\n")[0]}`); // the apiserver may blip; the operator copes too
    }
  }
  await showEnd(bin, finished, () => watched);
  if (opts.exitWhenDone) {
    stop();
    return;
  }
  say(
    `the operator keeps running (Ctrl-C stops it; the cluster stays up: npm run cluster:down). export KUBECONFIG=${KUBECONFIG}`,
  );
  watch.kill();
  await new Promise(() => {});
}

interface Finished {
  phase: "Succeeded" | "Failed";
  /** The reason of the job's final condition, which the operator also records as an Event. */
  reason: string;
}

/**
 * Prints the job's Events once they include the final one. The operator records Events after it writes the status,
 * and the watch may not have printed the final phase yet either, so both are waited for (briefly).
 */
async function showEnd(bin: string, finished: Finished, watched: () => string): Promise<void> {
  let events = "";
  for (let i = 0; i < 30; i++) {
    events = kubectl(bin, ["-n", NAMESPACE, "describe", "ctj", "quickstart"]).split("Events:")[1] ?? "";
    if (events.includes(finished.reason) && watched().includes(` ${finished.phase}`)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  say(`job ${finished.phase}. Events:`);
  process.stdout.write(events);
}

/** One look at the job: ends the pods that are due, and says whether (and how) the job finished. */
function step(bin: string, ending: Set<string>): Finished | undefined {
  const job = JSON.parse(kubectl(bin, ["-n", NAMESPACE, "get", "ctj", "quickstart", "-o", "json"]));
  const phase: string | undefined = job.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") {
    const conditions: { type: string; status: string; reason?: string }[] = job.status?.conditions ?? [];
    const reason = conditions.find((c) => c.type === phase && c.status === "True")?.reason ?? phase;
    return { phase, reason };
  }
  const pods = JSON.parse(kubectl(bin, ["-n", NAMESPACE, "get", "pods", "-o", "json"])).items as {
    metadata: { name: string; labels?: Record<string, string> };
    status?: { phase?: string };
  }[];
  for (const pod of pods) {
    const role = pod.metadata.labels?.["collabllm.io/role"];
    if (pod.status?.phase !== "Running" || role === "worker" || ending.has(pod.metadata.name)) continue;
    kubectl(bin, [
      "-n",
      NAMESPACE,
      "annotate",
      "pod",
      pod.metadata.name,
      "sim.collabllm.io/outcome=Succeeded",
      `sim.collabllm.io/after=${POD_SECONDS}s`,
    ]);
    ending.add(pod.metadata.name);
    say(`pod ${pod.metadata.name} (${role}) is Running; standing in for its trainer, it ends in ${POD_SECONDS}s`);
  }
  return undefined;
}
