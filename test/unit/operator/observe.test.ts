import { describe, expect, it } from "vitest";
import { keysOnlyUnlessOurs } from "../../../src/operator/observe.ts";

describe("the Secrets the operator caches", () => {
  it("keep the key names of a user's Secret and none of its values", () => {
    const cached = keysOnlyUnlessOurs({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "llm-keys", namespace: "ml" },
      data: { OPENAI_API_KEY: Buffer.from("sk-real-key").toString("base64") },
    } as never);
    expect(cached).toMatchObject({ metadata: { name: "llm-keys" }, data: { OPENAI_API_KEY: "" } });
    expect(JSON.stringify(cached)).not.toContain(Buffer.from("sk-real-key").toString("base64"));
  });

  it("keep the value of the operator's own token Secret", () => {
    const token = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "job-token", labels: { "app.kubernetes.io/managed-by": "collab-operator" } },
      data: { token: "dG9r" },
    };
    expect(keysOnlyUnlessOurs(token as never)).toEqual(token);
  });
});
