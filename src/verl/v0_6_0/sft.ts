// fsdp_sft_trainer overrides for veRL v0.6.0: recipe/collabllm/train_sft_collabllm.sh with the spec's values and the
// job's volume. RL starts from the Hugging Face weights this stage saves (hf_model), copied to PATHS.sftModel.
import type { Spec } from "../../api/schema.ts";
import { bool, float, list, num, str } from "../hydra.ts";
import { PATHS } from "../layout.ts";
import { loggers, projectName } from "../logger.ts";
import type { Entry, OwnedKey, RenderContext } from "../runtime.ts";

/** What veRL's checkpoint manager writes per step; hf_model adds global_step_N/huggingface/ (full HF weights). */
export const SFT_SAVE_CONTENTS = ["model", "optimizer", "extra", "hf_model"] as const;

export function sftEntries(spec: Spec, ctx: RenderContext): Entry[] {
  const { sft } = spec;
  const e = (key: string, value: string, owner: Entry["owner"]): Entry => ({ key, value, owner });
  return [
    e("data.train_files", str(PATHS.sftTrain), "operator"),
    e("data.val_files", str(PATHS.sftValidation), "operator"),
    // process_dataset.py --dataset_type sft writes one column, prompt, holding the whole conversation.
    e("data.multiturn.enable", bool(true), "operator"),
    e("data.multiturn.messages_key", "prompt", "operator"),
    e("optim.lr", float(sft.learningRate), "spec.sft.learningRate"),
    e("data.train_batch_size", num(sft.batchSize), "spec.sft.batchSize"),
    e("data.micro_batch_size_per_gpu", num(sft.microBatchSizePerGPU), "spec.sft.microBatchSizePerGPU"),
    e("data.max_length", num(sft.maxLength), "spec.sft.maxLength"),
    e("model.partial_pretrain", str(spec.model), "spec.model"),
    e("trainer.project_name", str(projectName(spec)), "spec.integrations.wandb.project"),
    e("trainer.experiment_name", str(`${ctx.jobName}-sft`), "operator"),
    e("trainer.logger", list(loggers(spec)), "operator"),
    e("trainer.total_epochs", num(sft.epochs), "spec.sft.epochs"),
    e("ulysses_sequence_parallel_size", num(1), "recipe"),
    e("use_remove_padding", bool(true), "recipe"),
    // The operator's additions, after the recipe's list.
    e("trainer.default_local_dir", str(PATHS.sftCheckpoints), "operator"),
    e("trainer.resume_mode", "auto", "operator"),
    e("trainer.checkpoint.save_contents", list(SFT_SAVE_CONTENTS), "operator"),
    e("trainer.nnodes", num(1), "operator"),
    e("trainer.n_gpus_per_node", num(spec.resources.gpusPerNode), "spec.resources.gpusPerNode"),
  ];
}

export const reservedSft: readonly OwnedKey[] = [{ key: "trainer.resume_from_path", owner: "operator" }];
