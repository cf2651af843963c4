// Readiness policy: what must exist before any pod is requested (referenced Secrets and keys, the claim the user
// brings, overrides only the operator can check), each problem naming its field, the most fundamental cause first.
import { describe, expect, it } from "vitest";
import type { SpecInput } from "../../../../src/api/schema.ts";
import type { Observed } from "../../../../src/operator/plan/observed.ts";
import { type BlockedBy, readiness, secretReferences } from "../../../../src/operator/plan/readiness.ts";
import { job, world } from "./world.ts";

const KEYS = { "llm-keys": ["OPENAI_API_KEY"] };
const CREDENTIAL_OVERRIDE = { rl: { overrides: ["+actor_rollout_ref.rollout.engine_kwargs.vllm.api_key=x"] } };

describe("readiness", () => {
  it.each<{
    name: string;
    spec?: Partial<SpecInput>;
    observed?: Partial<Observed>;
    blockedBy: BlockedBy | undefined;
    secrets: string;
    storage?: string;
    problems: string[];
  }>([
    { name: "everything there", blockedBy: undefined, secrets: "True SecretsFound", problems: [] },
    {
      name: "the Secret missing: both fields that reference it are named",
      observed: { secretKeys: {} },
      blockedBy: "SecretNotFound",
      secrets: "False SecretNotFound",
      problems: [
        "spec.userSimulator.apiKeySecretRef: Secret llm-keys not found",
        "spec.judge.apiKeySecretRef: Secret llm-keys not found",
      ],
    },
    {
      name: "the key missing",
      observed: { secretKeys: { "llm-keys": ["ANTHROPIC_API_KEY"] } },
      blockedBy: "SecretNotFound",
      secrets: "False SecretNotFound",
      problems: [
        "spec.userSimulator.apiKeySecretRef: Secret llm-keys has no key OPENAI_API_KEY",
        "spec.judge.apiKeySecretRef: Secret llm-keys has no key OPENAI_API_KEY",
      ],
    },
    {
      name: "an empty Secret has no key",
      observed: { secretKeys: { "llm-keys": [] } },
      blockedBy: "SecretNotFound",
      secrets: "False SecretNotFound",
      problems: [
        "spec.userSimulator.apiKeySecretRef: Secret llm-keys has no key OPENAI_API_KEY",
        "spec.judge.apiKeySecretRef: Secret llm-keys has no key OPENAI_API_KEY",
      ],
    },
    {
      name: "the W&B and Hugging Face Secrets are checked too",
      spec: {
        integrations: {
          wandb: { apiKeySecretRef: { name: "wandb", key: "key" } },
          huggingFaceTokenSecretRef: { name: "hf", key: "HF_TOKEN" },
        },
      },
      observed: { secretKeys: { ...KEYS, wandb: ["other"] } },
      blockedBy: "SecretNotFound",
      secrets: "False SecretNotFound",
      problems: [
        "spec.integrations.wandb.apiKeySecretRef: Secret wandb has no key key",
        "spec.integrations.huggingFaceTokenSecretRef: Secret hf not found",
      ],
    },
    {
      name: "the operator's own claim not made yet is not a problem",
      observed: { claimExists: false },
      blockedBy: undefined,
      secrets: "True SecretsFound",
      problems: [],
    },
    {
      name: "an existing claim that exists",
      spec: { storage: { existingClaim: "shared" } },
      blockedBy: undefined,
      secrets: "True SecretsFound",
      storage: "True ClaimFound claim shared exists",
      problems: [],
    },
    {
      name: "an existing claim that does not exist",
      spec: { storage: { existingClaim: "shared" } },
      observed: { claimExists: false },
      blockedBy: "ClaimNotFound",
      secrets: "True SecretsFound",
      storage: "False ClaimNotFound spec.storage.existingClaim: PersistentVolumeClaim shared not found",
      problems: ["spec.storage.existingClaim: PersistentVolumeClaim shared not found"],
    },
    {
      name: "a missing Secret is named before a missing claim",
      spec: { storage: { existingClaim: "shared" } },
      observed: { claimExists: false, secretKeys: {} },
      blockedBy: "SecretNotFound",
      secrets: "False SecretNotFound",
      storage: "False ClaimNotFound spec.storage.existingClaim: PersistentVolumeClaim shared not found",
      problems: [
        "spec.userSimulator.apiKeySecretRef: Secret llm-keys not found",
        "spec.judge.apiKeySecretRef: Secret llm-keys not found",
        "spec.storage.existingClaim: PersistentVolumeClaim shared not found",
      ],
    },
    {
      name: "an override carrying a credential blocks before anything else",
      spec: CREDENTIAL_OVERRIDE,
      observed: { secretKeys: {} },
      blockedBy: "InvalidSpec",
      secrets: "False SecretNotFound",
      problems: [
        expect.stringMatching(/^spec\.rl\.overrides\[0\]: /),
        "spec.userSimulator.apiKeySecretRef: Secret llm-keys not found",
        "spec.judge.apiKeySecretRef: Secret llm-keys not found",
      ],
    },
  ])("$name", ({ spec = {}, observed = {}, blockedBy, secrets, storage, problems }) => {
    const r = readiness(world(job(spec), [], observed));
    expect(r.blockedBy).toBe(blockedBy);
    expect(r.problems).toEqual(problems);
    const said = (type: string) => {
      const c = r.conditions.find((x) => x.type === type);
      return c && (type === "SecretsReady" ? `${c.status} ${c.reason}` : `${c.status} ${c.reason} ${c.message}`);
    };
    expect(said("SecretsReady")).toBe(secrets);
    expect(said("StorageReady")).toBe(storage);
    const secretsReady = r.conditions.find((c) => c.type === "SecretsReady");
    if (secretsReady?.status === "False")
      expect(secretsReady.message).toBe(
        problems.filter((p) => typeof p === "string" && p.includes("Secret")).join("; "),
      );
  });
});

describe("secretReferences", () => {
  it.each<{ name: string; spec: Partial<SpecInput>; fields: string[] }>([
    {
      name: "the two LLM keys",
      spec: {},
      fields: ["spec.userSimulator.apiKeySecretRef", "spec.judge.apiKeySecretRef"],
    },
    {
      name: "with W&B and Hugging Face",
      spec: {
        integrations: {
          wandb: { apiKeySecretRef: { name: "w", key: "k" } },
          huggingFaceTokenSecretRef: { name: "h", key: "k" },
        },
      },
      fields: [
        "spec.userSimulator.apiKeySecretRef",
        "spec.judge.apiKeySecretRef",
        "spec.integrations.wandb.apiKeySecretRef",
        "spec.integrations.huggingFaceTokenSecretRef",
      ],
    },
  ])("$name", ({ spec, fields }) => {
    expect(secretReferences(job(spec)).map((r) => r.field)).toEqual(fields);
  });
});
