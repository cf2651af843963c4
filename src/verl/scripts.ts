// The launch scripts of each stage, put into the job's ConfigMap and run as `bash /etc/collab/<script>`. Every stage is
// safe to run again after a crash or a restart: finished work is detected on the volume and skipped, partial output is
// written beside its final place and moved there only when complete.
import type { Spec } from "../api/schema.ts";
import { rlArgs, sftArgs } from "./args.ts";
import { ENV, PATHS, RAY_DASHBOARD_PORT, RAY_GCS_PORT, TRAINER_LOG, TRAINER_LOG_DIR, VERL_ROOT } from "./layout.ts";
import type { RenderContext, VerlRuntime } from "./runtime.ts";
import { type Raw, shellCommand, shellQuote } from "./shell.ts";

/** Written by a training stage when veRL exited 0; a restart then goes straight to the export. */
export const DONE_MARKER = "collab-done";

function preamble(stage: string, spec: Spec, runtime: VerlRuntime): string {
  const entity = spec.integrations.wandb?.entity;
  return [
    "#!/usr/bin/env bash",
    `# ${stage}: rendered by collab-operator for veRL ${runtime.version}. The operator owns this file.`,
    "set -euo pipefail",
    "export VLLM_USE_V1=1  # as train_rl_collabllm.sh",
    `export PYTHONPATH=${VERL_ROOT}  # recipe/ is a namespace package under the verl root, imported on every node`,
    "export PYTHONUNBUFFERED=1  # the console logger's lines reach the log file as they are printed",
    "export RAY_DEDUP_LOGS=0  # every reward worker's per-sample Scores line reaches the log, none folded into another",
    "export HYDRA_FULL_ERROR=1",
    `export HF_HOME=${PATHS.hfHome}`,
    ...(entity ? [`export WANDB_ENTITY=${shellQuote(entity)}`] : []),
    "# This script is its container's first process, which the kernel shields from every signal it does not handle:",
    "# the kubelet's SIGTERM (an eviction, a deletion, the job's deadline) goes on to every process of the stage, and",
    "# the script ends once they have. Long steps run as `cmd & wait $!`, since bash runs a trap only between commands.",
    `${STOP_STAGE}() { trap '' TERM INT; kill -TERM 0 2>/dev/null || true; wait; exit 143; }`,
    `trap ${STOP_STAGE} TERM INT`,
    "# Ray 2.5x drains a node on SIGTERM for up to 30 s (for Ray Serve replicas); a training gang stops and restarts",
    "# as a whole, so draining only delays the next attempt, and with the head gone it waits out the whole timeout.",
    "export RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0",
    `cd ${VERL_ROOT}`,
    "",
  ].join("\n");
}

const STOP_STAGE = "stop_stage";

/** A long step: in the background, waited for, so that a signal reaches the script while it runs. */
function awaited(command: string): string {
  return `${command} &\nwait $!`;
}

/**
 * Runs a trainer with its output on the console, in the gateway's log file and on the volume; keeps its exit code.
 * Of the stop signal the script passes on, only the trainer acts: the subshell holding the pipeline and tee ignore
 * it, so tee writes the trainer's last lines and the script's `wait` sees the trainer's end, not the subshell's.
 */
function logged(argv: readonly (string | Raw)[], logName: string): string {
  const trainer = `(trap - TERM INT; exec ${shellCommand(argv)})`;
  const tee = `(exec tee -a ${TRAINER_LOG} "${PATHS.logs}/${logName}-\${HOSTNAME}.log")`;
  return awaited(`{ trap '' TERM INT; ${trainer} \\\n  2>&1 | ${tee}; }`);
}

interface TrainAndExport {
  checkpointDir: string;
  /** Where the exported Hugging Face model goes. */
  target: string;
  train: string;
  /** Writes the model of checkpoint `${step}` to `"$partial"`. */
  produce: string;
}

/**
 * Train unless a previous run finished, then export. The export is written beside its target and renamed into place,
 * so the target's presence means the stage is complete.
 */
function trainAndExport({ checkpointDir, target, train, produce }: TrainAndExport): string {
  return [
    `mkdir -p ${checkpointDir} ${PATHS.logs} ${TRAINER_LOG_DIR} ${target.slice(0, target.lastIndexOf("/"))}`,
    `if [[ ! -f ${checkpointDir}/${DONE_MARKER} ]]; then`,
    train.replace(/^/gm, "  "),
    `  touch ${checkpointDir}/${DONE_MARKER}`,
    "fi",
    `step=$(cat ${checkpointDir}/latest_checkpointed_iteration.txt)`,
    `partial=${target}.partial`,
    'rm -rf "$partial"',
    produce,
    `mv -T "$partial" ${target}`,
    `echo "[collab] model of step \${step} exported to ${target}"`,
    "",
  ].join("\n");
}

function skipIfExported(target: string): string {
  return `if [[ -d ${target} ]]; then echo "[collab] ${target} is already there"; exit 0; fi`;
}

/** The metric that runs model-written code with bigcodebench. */
export const PASS_RATE = "pass_rate";

/**
 * veRL loads a metric's module when it scores, and a module that fails to import scores 0 for the whole run
 * (recipe/collabllm/reward_function.py:63-70): for pass_rate, check before any GPU pod that bigcodebench imports.
 * The message goes to the termination log, which the job's Failed condition quotes.
 */
function passRatePreflight(spec: Spec): string[] {
  if (!(PASS_RATE in spec.reward.metrics)) return [];
  const message =
    "[collab] spec.reward.metrics has pass_rate, which needs the bigcodebench package, and this trainer image lacks it " +
    "(every pass_rate score would be 0): leave spec.runtime.image unset to run the bigcodebench image the operator is configured with, " +
    "or build yours with --build-arg WITH_BIGCODEBENCH=true";
  return [
    `if ! python3 -c 'import bigcodebench.eval' >/dev/null 2>&1; then`,
    `  echo ${shellQuote(message)} | tee /dev/termination-log >&2`,
    "  exit 1",
    "fi",
  ];
}

export function prepareScript(spec: Spec, runtime: VerlRuntime): string {
  const kinds = spec.sft.enabled ? (["rl", "sft"] as const) : (["rl"] as const);
  const split = (kind: "rl" | "sft") => {
    const train = `${PATHS.data}/${kind}_train.parquet`;
    const validation = `${PATHS.data}/${kind}_validation.parquet`;
    const partial = `${PATHS.data}/.${kind}.partial`;
    return [
      `if [[ -f ${train} && -f ${validation} ]]; then`,
      `  echo "[collab] ${kind} data already prepared"`,
      "else",
      `  rm -rf ${partial}`,
      awaited(
        shellCommand([
          "python3",
          runtime.processDatasetScript,
          "--dataset",
          spec.dataset.source,
          "--local_dir",
          partial,
          "--dataset_type",
          kind,
          "--task_desc",
          spec.dataset.taskDescription,
          "--validation_size",
          String(spec.dataset.validationFraction),
          "--seed",
          String(spec.dataset.seed),
        ]),
      ).replace(/^/gm, "  "),
      // The train file last: its presence with the validation file marks the split complete.
      `  mv ${partial}/${kind}_validation.parquet ${validation}`,
      `  mv ${partial}/${kind}_train.parquet ${train}`,
      `  rm -rf ${partial}`,
      "fi",
    ].join("\n");
  };
  // Download a Hub model once into the shared HF_HOME, so the GPU pods do not each fetch it at the same time.
  const prefetch = spec.model.startsWith("/")
    ? []
    : [
        awaited(
          shellCommand([
            "python3",
            "-c",
            "import sys; from huggingface_hub import snapshot_download; print(snapshot_download(sys.argv[1]))",
            spec.model,
          ]),
        ),
      ];
  return [
    preamble("prepare", spec, runtime),
    ...passRatePreflight(spec),
    `mkdir -p ${PATHS.data} ${PATHS.hfHome}`,
    ...kinds.map(split),
    ...prefetch,
    "",
  ].join("\n");
}

export function sftScript(spec: Spec, ctx: RenderContext, runtime: VerlRuntime): string {
  const torchrun = [
    "torchrun",
    "--standalone",
    "--nnodes=1",
    `--nproc_per_node=${spec.resources.gpusPerNode}`,
    "-m",
    runtime.sftModule,
    ...sftArgs(spec, ctx),
  ];
  // The checkpoint's hf_model copy (huggingface/) is complete HF weights with the tokenizer: RL's model path.
  const copy = `cp -r "${PATHS.sftCheckpoints}/global_step_\${step}/huggingface" "$partial"`;
  return [
    preamble("sft", spec, runtime),
    skipIfExported(PATHS.sftModel),
    trainAndExport({
      checkpointDir: PATHS.sftCheckpoints,
      target: PATHS.sftModel,
      train: logged(torchrun, "sft"),
      produce: copy,
    }),
  ].join("\n");
}

export function rlHeadScript(spec: Spec, ctx: RenderContext, runtime: VerlRuntime): string {
  const { nodes, gpusPerNode } = spec.resources;
  const timeout = spec.scheduling.startupTimeoutSeconds;
  const merge = runtime.mergeCommand<Raw>(
    { raw: `"${PATHS.rlCheckpoints}/global_step_\${step}/actor"` },
    { raw: '"$partial"' },
  );
  return [
    preamble("rl-head", spec, runtime),
    skipIfExported(PATHS.finalModel),
    shellCommand([
      "ray",
      "start",
      "--head",
      `--port=${RAY_GCS_PORT}`,
      "--dashboard-host=0.0.0.0",
      `--dashboard-port=${RAY_DASHBOARD_PORT}`,
      "--disable-usage-stats",
    ]),
    `# veRL asks Ray for one STRICT_PACK group of ${gpusPerNode} GPUs on each of ${nodes} node(s): wait until they have joined.`,
    `python3 - ${nodes} ${gpusPerNode} ${timeout} <<'PY' &`,
    "import sys, time, ray",
    "nodes, gpus, timeout = map(int, sys.argv[1:4])",
    'ray.init(address="auto", logging_level="ERROR")',
    "deadline = time.monotonic() + timeout",
    "while True:",
    '    ready = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU", 0) >= gpus]',
    "    if len(ready) >= nodes:",
    '        print(f"[collab] {len(ready)} of {nodes} Ray nodes ready", flush=True)',
    "        break",
    "    if time.monotonic() > deadline:",
    '        sys.exit(f"[collab] only {len(ready)} of {nodes} Ray nodes joined within {timeout}s")',
    "    time.sleep(5)",
    "ray.shutdown()",
    "PY",
    "wait $!",
    trainAndExport({
      checkpointDir: PATHS.rlCheckpoints,
      target: PATHS.finalModel,
      train: logged(["python3", "-m", runtime.ppoModule, ...rlArgs(spec, ctx)], "rl"),
      produce: awaited(shellCommand(merge)),
    }),
  ].join("\n");
}

export function rlWorkerScript(spec: Spec, runtime: VerlRuntime): string {
  const head = `$\{head}`; // the variable the script sets below
  return [
    preamble("rl-worker", spec, runtime),
    `head=\${${ENV.rayHead}:?set by the operator}`,
    `deadline=$((SECONDS + ${spec.scheduling.startupTimeoutSeconds}))`,
    `until (exec 3<>"/dev/tcp/${head}/${RAY_GCS_PORT}") 2>/dev/null; do`,
    `  if ((SECONDS > deadline)); then echo "[collab] Ray head ${head}:${RAY_GCS_PORT} unreachable" >&2; exit 1; fi`,
    "  sleep 5 & wait $!",
    "done",
    awaited(
      shellCommand([
        "ray",
        "start",
        { raw: `--address="${head}:${RAY_GCS_PORT}"` },
        "--block",
        "--disable-usage-stats",
      ]),
    ),
    "",
  ].join("\n");
}
