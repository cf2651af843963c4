// `npm run start:local`: the local cluster, the operator, and the quickstart job with its Secret, watched with
// `kubectl get ctj -w` until it finishes.
//
// On a machine that can run the real node (root, cgroups: realnode.ts), everything runs for real: the operator is
// installed by its chart from the image built here and runs in a pod; the job's pods run on the real node, the
// trainer being the CPU stand-in of images/trainer-cpu. What the script changes in the example, and says: the job is
// sent to the real node (its label and taint), its endpoints to the provider stand-in (this machine is offline and
// the key is a placeholder), its GPU product dropped (the real node's GPUs are not H100s), and its batch made small
// enough for a CPU to finish in about a minute.
//
// Elsewhere it says why, and falls back to fake nodes (KWOK), where no container runs and this script stands in for
// them: the preflight pod's containers run as local processes (stand-in.ts) against a local provider stand-in; the
// prepare pod ends a few seconds after it is Running; on the head pod the two gateway sidecars run locally, a
// recorded veRL 0.6.0 console log is written into the file the user-simulator gateway follows, and the gateways are
// called as the trainer's litellm would. Everything else is the real operator at work.
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { parseAllDocuments, stringify } from "yaml";
import { type FakeUpstream, startFakeUpstream } from "../unit/gateway/fake-upstream.ts";
import { binaries, KUBECONFIG, kubectl, LOGS, ROOT, up } from "./cluster.ts";
import { allImages } from "./images.ts";
import { imageNodeFlags } from "./node-flags.ts";
import {
  HUB_CONTROL,
  installOperatorChart,
  OPERATOR_RELEASE,
  PROVIDER,
  REAL_NODE_LABEL,
  REAL_NODE_TAINT,
  realNodeUnavailable,
} from "./realnode.ts";
import { containerEnv, freePort, runPreflightPod, startContainer } from "./stand-in.ts";

const NAMESPACE = "quickstart";
const POD_SECONDS = 5;
/** A recorded console log of a 60-step run, in veRL 0.6.0's LocalLogger format (read by src/gateway/verl-log.ts). */
export const RECORDED_LOG = join(ROOT, "test/cluster/testdata/verl-console.log");
/** Time between two of its lines as the stand-in trainer writes them (a real step takes minutes). */
const LINE_MS = 200;
const say = (msg: string) => process.stdout.write(`[quickstart] ${msg}\n`);

export async function quickstart(opts: { exitWhenDone: boolean }): Promise<void> {
  const why = realNodeUnavailable();
  if (why === undefined) return realNodeQuickstart(opts);
  say(
    `this machine cannot run the real node (${why}): the job runs on fake nodes, and this script stands in for its containers`,
  );
  return kwokQuickstart(opts);
}

/** The example's job as it runs on the real node, with what changed said. */
function onRealNode(docs: Record<string, any>[]): Record<string, any>[] {
  return docs.map((doc) => {
    if (doc.kind !== "CollabTrainingJob") return doc;
    const spec = structuredClone(doc.spec);
    spec.scheduling = {
      ...spec.scheduling,
      nodeSelector: { [REAL_NODE_LABEL]: "true" },
      tolerations: [{ key: REAL_NODE_TAINT.key, operator: "Exists" }],
    };
    for (const role of ["userSimulator", "judge"]) spec[role] = { ...spec[role], baseURL: PROVIDER.inCluster };
    delete spec.resources.gpuProduct;
    spec.rl = { ...spec.rl, batchSize: 4, miniBatchSize: 4 };
    spec.rollout = { ...spec.rollout, samplesPerPrompt: 2, multiTurn: { futureConversations: 1 } };
    return { ...doc, spec };
  });
}

async function realNodeQuickstart(opts: { exitWhenDone: boolean }): Promise<void> {
  await up({ realnode: true });
  const bin = binaries();
  const images = allImages();
  say(`installing the operator's chart with the image built here (${images.operator.ref}); it runs on the real node`);
  installOperatorChart(images);
  await fetch(`${PROVIDER.control}/reset`, { method: "POST" });
  // A score that climbs as the run goes on, as a learning policy's would: REWARD moves.
  await fetch(`${PROVIDER.control}/settings`, {
    method: "POST",
    body: JSON.stringify({ ramps: { interactivity: { from: 0.2, to: 0.9, calls: 120 } } }),
  });
  await fetch(`${HUB_CONTROL}/settings`, { method: "POST", body: JSON.stringify({ datasetRows: 40 }) });
  const docs = parseAllDocuments(readFileSync(join(ROOT, "examples/quickstart.yaml"), "utf8")).map((d) => d.toJSON());
  say(
    "applying examples/quickstart.yaml, changed for this machine: the job goes to the real node (nodeSelector and toleration), " +
      `its user simulator and judge to the provider stand-in (${PROVIDER.inCluster}), without gpuProduct, ` +
      "with rl.batchSize and miniBatchSize 4, rollout.samplesPerPrompt 2 and multiTurn.futureConversations 1 (a CPU node finishes in a few minutes)",
  );
  kubectl(
    bin,
    ["apply", "-f", "-"],
    onRealNode(docs)
      .map((d) => stringify(d))
      .join("---\n"),
  );
  const watch = watchJob(bin);
  process.once("SIGINT", () => {
    watch.stop();
    process.exit(0);
  });
  let finished: Finished | undefined;
  while (!finished) {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      finished = jobEnd(bin);
    } catch (err) {
      say(`retrying: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  await showEnd(bin, finished, watch.watched);
  watch.stop();
  say(
    `the pods' logs stay: kubectl logs -n ${NAMESPACE} ${NAMESPACE}-a0-head -c trainer (or -c user-simulator, -c judge)`,
  );
  say(
    `the operator keeps running in the cluster (helm -n ${OPERATOR_RELEASE.namespace} status ${OPERATOR_RELEASE.name}; npm run cluster:down stops everything). export KUBECONFIG=${KUBECONFIG}`,
  );
  if (!opts.exitWhenDone) await new Promise(() => {});
}

/** `kubectl get ctj -w`, passed through and kept, so the script stops it only after it has shown the final phase. */
function watchJob(bin: string): { watched: () => string; stop: () => void } {
  const watch = spawn(join(bin, "kubectl"), ["--kubeconfig", KUBECONFIG, "-n", NAMESPACE, "get", "ctj", "-w"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let watched = "";
  watch.stdout.on("data", (data: Buffer) => {
    watched += data.toString();
    process.stdout.write(data);
  });
  return { watched: () => watched, stop: () => watch.kill() };
}

/** Whether (and how) the job finished. */
function jobEnd(bin: string): Finished | undefined {
  const job = JSON.parse(kubectl(bin, ["-n", NAMESPACE, "get", "ctj", "quickstart", "-o", "json"]));
  const phase: string | undefined = job.status?.phase;
  if (phase !== "Succeeded" && phase !== "Failed") return undefined;
  const conditions: { type: string; status: string; reason?: string }[] = job.status?.conditions ?? [];
  return { phase, reason: conditions.find((c) => c.type === phase && c.status === "True")?.reason ?? phase };
}

async function kwokQuickstart(opts: { exitWhenDone: boolean }): Promise<void> {
  await up();
  const bin = binaries();
  kubectl(bin, ["apply", "-f", join(ROOT, "examples/quickstart.yaml")]);
  const logFile = join(LOGS, "operator.log");
  const reportPort = await freePort();
  const operator = spawn(
    process.execPath,
    [
      ...imageNodeFlags(),
      join(ROOT, "src/cli.ts"),
      "run",
      `--namespaces=${NAMESPACE}`,
      "--leader-elect=false",
      "--port=0",
      `--report-port=${reportPort}`,
      // The pods' gateways report here; on a cluster this is the operator's Service.
      `--report-base-url=http://127.0.0.1:${reportPort}`,
    ],
    { env: { ...process.env, KUBECONFIG }, stdio: ["ignore", openSync(logFile, "a"), openSync(logFile, "a")] },
  );
  say(`operator started (pid ${operator.pid}); its logs: ${logFile}`);
  const provider = await startFakeUpstream({ models: ["gpt-4o-mini"] });
  const watch = watchJob(bin);
  const standIns = new StandIns(bin, provider);
  const stop = async () => {
    watch.stop();
    await standIns.stop();
    operator.kill("SIGTERM");
    await provider.close();
  };
  process.once("SIGINT", () => {
    void stop().finally(() => process.exit(0));
  });

  let finished: Finished | undefined;
  while (!finished) {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      finished = standIns.step();
    } catch (err) {
      say(`retrying: ${(err as Error).message.split("\n")[0]}`); // the apiserver may blip; the operator copes too
    }
  }
  await showEnd(bin, finished, watch.watched);
  if (opts.exitWhenDone) {
    await stop();
    return;
  }
  say(
    `the operator keeps running (Ctrl-C stops it; the cluster stays up: npm run cluster:down). export KUBECONFIG=${KUBECONFIG}`,
  );
  watch.stop();
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
  let described = "";
  for (let i = 0; i < 30; i++) {
    described = kubectl(bin, ["-n", NAMESPACE, "describe", "ctj", "quickstart"]);
    const events = described.split("Events:")[1] ?? "";
    if (events.includes(finished.reason) && watched().includes(` ${finished.phase}`)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const job = JSON.parse(kubectl(bin, ["-n", NAMESPACE, "get", "ctj", "quickstart", "-o", "json"]));
  const { progress, usage } = job.status ?? {};
  if (progress) say(`progress: step ${progress.stepOfTotal}, reward ${progress.reward}`);
  if (usage) say(`usage: ${usage.totalTokens} tokens (kubectl describe ctj -n ${NAMESPACE} quickstart: Status/Usage)`);
  say(`job ${finished.phase}. Events:`);
  process.stdout.write(described.split("Events:")[1] ?? "");
}

type Pod = V1Pod & { metadata: { name: string } };

/** What this script does in place of the kubelet and the trainer, pod by pod, each once. */
class StandIns {
  readonly #bin: string;
  readonly #provider: FakeUpstream;
  readonly #handled = new Set<string>();
  readonly #processes = new Set<ChildProcess>();
  readonly #tasks = new Set<Promise<void>>();

  constructor(bin: string, provider: FakeUpstream) {
    this.#bin = bin;
    this.#provider = provider;
  }

  /** One look at the job: starts the stand-ins that are due, and says whether (and how) the job finished. */
  step(): Finished | undefined {
    const finished = jobEnd(this.#bin);
    if (finished) return finished;
    const pods = JSON.parse(kubectl(this.#bin, ["-n", NAMESPACE, "get", "pods", "-o", "json"])).items as Pod[];
    for (const pod of pods) {
      const role = pod.metadata.labels?.["collabllm.io/role"];
      if (pod.status?.phase !== "Running" || role === "worker" || this.#handled.has(pod.metadata.name)) continue;
      this.#handled.add(pod.metadata.name);
      if (role === "preflight") this.#task(this.#preflight(pod));
      else if (role === "head") this.#task(this.#train(pod));
      else this.#end(pod, role, POD_SECONDS);
    }
    return undefined;
  }

  async stop(): Promise<void> {
    for (const child of this.#processes) child.kill("SIGTERM");
    await Promise.all(this.#tasks);
  }

  #task(work: Promise<void>): void {
    const task = work.catch((err: Error) => {
      say(`stand-in failed: ${err.message.split("\n")[0]}`);
    });
    this.#tasks.add(task);
    void task.finally(() => this.#tasks.delete(task));
  }

  #end(pod: Pod, role: string | undefined, afterSeconds: number): void {
    kubectl(this.#bin, [
      "-n",
      NAMESPACE,
      "annotate",
      "pod",
      pod.metadata.name,
      "sim.collabllm.io/outcome=Succeeded",
      `sim.collabllm.io/after=${afterSeconds}s`,
    ]);
    say(`pod ${pod.metadata.name} (${role}) is Running; standing in for its trainer, it ends in ${afterSeconds}s`);
  }

  async #preflight(pod: Pod): Promise<void> {
    say(
      `pod ${pod.metadata.name} (preflight) is Running; standing in for the kubelet, it runs its containers' collab-operator preflight, the endpoints pointed at a local stand-in for the provider (${this.#provider.url})`,
    );
    const ends = await runPreflightPod(this.#bin, pod, { COLLAB_GATEWAY_UPSTREAM_BASE_URL: this.#provider.url });
    for (const end of ends) {
      const verdict = JSON.parse(end.message || "{}") as { reason?: string; message?: string };
      say(`  ${end.container}: exit ${end.exitCode}, ${verdict.reason}: ${verdict.message}`);
    }
  }

  /** The head pod: its gateway sidecars run for real; the trainer writes a recorded log and calls them. */
  async #train(pod: Pod): Promise<void> {
    const lines = readFileSync(RECORDED_LOG, "utf8").split("\n").filter(Boolean);
    say(
      `pod ${pod.metadata.name} (head) is Running; standing in for its trainer, it runs its gateway sidecars and replays a recorded veRL log (${lines.length} lines) through them, then ends`,
    );
    const trainerLog = join(mkdtempSync(join(tmpdir(), "collab-quickstart-")), "trainer.log");
    writeFileSync(trainerLog, "");
    // What differs from the pod: a free loopback port each, the log on a local path, the provider's stand-in.
    const local = { COLLAB_GATEWAY_LISTEN: "127.0.0.1:0", COLLAB_GATEWAY_UPSTREAM_BASE_URL: this.#provider.url };
    const simulator = this.#gateway(pod, "user-simulator", { ...local, COLLAB_GATEWAY_FOLLOW_LOG: trainerLog });
    const judge = this.#gateway(pod, "judge", local);
    const [simulatorURL, judgeURL] = await Promise.all([simulator.url, judge.url]);
    // The trainer's litellm authenticates to the sidecars with the job's token, the trainer's OPENAI_API_KEY.
    const token = containerEnv(this.#bin, pod, "trainer").OPENAI_API_KEY as string;
    for (const line of lines) {
      appendFileSync(trainerLog, `${line}\n`);
      if (/ step:\d+ /.test(line)) {
        // A step's episodes: the user simulator speaks, the judge scores.
        await Promise.all([
          chat(simulatorURL, token, simulator.model),
          chat(simulatorURL, token, simulator.model),
          chat(judgeURL, token, judge.model),
        ]);
      }
      await new Promise((r) => setTimeout(r, LINE_MS));
    }
    // Let the follower read the last lines (it polls every second), then stop: each gateway sends a last report.
    await new Promise((r) => setTimeout(r, 2500));
    await Promise.all([simulator.stop(), judge.stop()]);
    this.#end(pod, "head", 1);
  }

  #gateway(pod: Pod, container: string, changes: Record<string, string>) {
    const child = startContainer(this.#bin, pod, container, changes);
    this.#processes.add(child);
    let output = "";
    const url = new Promise<string>((resolve, reject) => {
      child.stdout?.on("data", (d) => {
        output += d;
        const line = output.split("\n").find((l) => l.includes('"gateway listening"'));
        if (line) resolve(`http://${JSON.parse(line).listen}`);
      });
      child.once("exit", (code) => reject(new Error(`gateway ${container} exited with ${code}: ${output}`)));
    });
    const model = containerEnv(this.#bin, pod, container).COLLAB_GATEWAY_MODEL as string;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return {
      url,
      model,
      stop: async () => {
        child.kill("SIGTERM");
        await exited;
        this.#processes.delete(child);
      },
    };
  }
}

async function chat(base: string, token: string, model: string): Promise<void> {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "Can you show the steps?" }] }),
  });
  if (!response.ok) throw new Error(`gateway answered ${response.status}: ${await response.text()}`);
}
