// The job's ConfigMap contents: every file the trainer pods read from CONFIG_MOUNT.
import type { Spec } from "../api/schema.ts";
import { CONFIG_FILES } from "./layout.ts";
import type { RenderContext } from "./runtime.ts";
import { prepareScript, rlHeadScript, rlWorkerScript, sftScript } from "./scripts.ts";
import { runtimeFor } from "./versions.ts";

/** File name -> content. sft.sh only when the SFT stage runs. */
export function renderConfigFiles(spec: Spec, ctx: RenderContext): Record<string, string> {
  const runtime = runtimeFor(spec);
  return {
    [CONFIG_FILES.interaction]: runtime.interactionConfig(spec),
    [CONFIG_FILES.agent]: runtime.agentConfig(),
    [CONFIG_FILES.prepare]: prepareScript(spec, runtime),
    ...(spec.sft.enabled ? { [CONFIG_FILES.sft]: sftScript(spec, ctx, runtime) } : {}),
    [CONFIG_FILES.rlHead]: rlHeadScript(spec, ctx, runtime),
    [CONFIG_FILES.rlWorker]: rlWorkerScript(spec, runtime),
  };
}
