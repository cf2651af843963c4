// Flags, env vars and the rules between them.
import { describe, expect, it } from "vitest";
import { gatewayCommand } from "../../../src/cli/gateway.ts";
import { gatewayEnv } from "../../../src/contract/gateway-settings.ts";

const env = {
  COLLAB_GATEWAY_ROLE: "user-simulator",
  COLLAB_GATEWAY_UPSTREAM_BASE_URL: "https://api.example.com/v1",
  COLLAB_GATEWAY_UPSTREAM_MODEL: "gpt-4o-mini",
  COLLAB_GATEWAY_TOKEN: "job-token-0123456789",
};

describe("collab-operator gateway: flags and environment", () => {
  it("reads every option from its env var, with role-based defaults", () => {
    const config = gatewayCommand.parse([], {
      ...env,
      COLLAB_GATEWAY_REQUESTS_PER_MINUTE: "3000",
      COLLAB_GATEWAY_SHARE: "1/4",
    });
    expect(config).toMatchObject({
      role: "user-simulator",
      host: "127.0.0.1",
      port: 4001,
      model: "user-simulator",
      upstreamApiKey: null,
      retries: 6,
      requestsPerMinute: 750,
      share: 0.25,
    });
  });

  it("lets flags override env vars, and splits limits and budget across pods", () => {
    const config = gatewayCommand.parse(
      ["--role=judge", "--max-concurrency", "64", "--budget-tokens", "1000", "--pods", "3", "--tokens-per-minute", "2"],
      { ...env, COLLAB_GATEWAY_UPSTREAM_API_KEY: "sk-real-key-123456" },
    );
    expect(config).toMatchObject({ role: "judge", port: 4002, maxConcurrency: 21, budgetTokens: 333 });
    expect(config.tokensPerMinute).toBe(1); // never rounded down to 0, which would mean unlimited
    expect(config.upstreamApiKey).toBe("sk-real-key-123456");
  });

  it("takes secrets from the environment only", () => {
    expect(() => gatewayCommand.parse(["--token", "x"], env)).toThrow(/unknown flag --token/);
    expect(() => gatewayCommand.parse(["--upstream-api-key", "x"], env)).toThrow(/unknown flag/);
    expect(() => gatewayCommand.parse([], { ...env, COLLAB_GATEWAY_TOKEN: "" })).toThrow(
      /COLLAB_GATEWAY_TOKEN must be set/,
    );
  });

  it("rejects bad values with the flag's name", () => {
    expect(() => gatewayCommand.parse(["--role", "critic"], env)).toThrow(/--role must be one of/);
    expect(() => gatewayCommand.parse(["--retries", "-1"], env)).toThrow(/--retries/);
    expect(() => gatewayCommand.parse(["--share", "2"], env)).toThrow(/--share/);
  });

  it("documents every env var in --help", () => {
    expect(gatewayEnv("followLog")).toBe("COLLAB_GATEWAY_FOLLOW_LOG");
    for (const name of ["COLLAB_GATEWAY_REPORT_URL", "COLLAB_GATEWAY_UPSTREAM_API_KEY", "COLLAB_GATEWAY_TOKEN"]) {
      expect(gatewayCommand.help()).toContain(name);
    }
  });
});
