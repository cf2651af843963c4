// veRL v0.6.0, the release the CollabLLM recipe (volcengine/verl, recipe/collabllm) runs on as written.
import type { VerlRuntime } from "../runtime.ts";
import { agentConfig, interactionConfig } from "./configs.ts";
import { reservedRl, rlEntries } from "./rl.ts";
import { reservedSft, sftEntries } from "./sft.ts";

export const v0_6_0: VerlRuntime = {
  version: "0.6.0",
  rlEntries,
  sftEntries,
  reservedRl,
  reservedSft,
  interactionConfig,
  agentConfig,
  processDatasetScript: "recipe/collabllm/process_dataset.py",
  ppoModule: "verl.trainer.main_ppo",
  sftModule: "verl.trainer.fsdp_sft_trainer",
  mergeCommand: <A>(checkpointDir: A, targetDir: A) => [
    "python3",
    "-m",
    "verl.model_merger",
    "merge",
    "--backend",
    "fsdp",
    "--local_dir",
    checkpointDir,
    "--target_dir",
    targetDir,
  ],
};
