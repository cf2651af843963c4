// The smallest valid spec input, for tests that vary one field.
import type { SpecInput } from "../../../src/api/schema.ts";

export function minimalSpec(): SpecInput {
  return {
    model: "Qwen/Qwen2.5-7B-Instruct",
    dataset: { source: "collabllm/collabllm-multiturn-math-hard", taskDescription: "solving math problems" },
    userSimulator: { model: "gpt-4o-mini" },
    judge: { model: "gpt-4o-mini" },
    reward: { metrics: { accuracy: 1, interactivity: 1, token_amount: -0.0001 } },
    storage: { size: "100Gi" },
  };
}
