// Starts a fake upstream and a gateway in front of it, with an official openai SDK client for the gateway and every
// log line the gateway writes kept for inspection.
import OpenAI from "openai";
import { expect } from "vitest";
import { gatewayCommand } from "../../../src/cli/gateway.ts";
import type { GatewayConfig } from "../../../src/gateway/config.ts";
import { type Gateway, startGateway } from "../../../src/gateway/gateway.ts";
import { type FakeUpstream, startFakeUpstream } from "./fake-upstream.ts";

export const UPSTREAM_KEY = "sk-upstream-REAL-key-0123456789abcdef";
export const JOB_TOKEN = "job-token-for-tests-0123456789";

export interface Pair {
  upstream: FakeUpstream;
  gateway: Gateway;
  config: GatewayConfig;
  client: OpenAI;
  logs: string[];
  close: () => Promise<void>;
}

/** flags: extra gateway flags, e.g. ["--retries", "2"]. */
export async function startPair(flags: string[] = [], env: Record<string, string> = {}): Promise<Pair> {
  const upstream = await startFakeUpstream();
  const config = gatewayCommand.parse(
    [
      "--role",
      "judge",
      "--listen",
      "127.0.0.1:0",
      "--upstream-base-url",
      upstream.url,
      "--upstream-model",
      "gpt-4o-mini",
      "--log-level",
      "debug",
      ...flags,
    ],
    { COLLAB_GATEWAY_UPSTREAM_API_KEY: UPSTREAM_KEY, COLLAB_GATEWAY_TOKEN: JOB_TOKEN, ...env },
  );
  const logs: string[] = [];
  const gateway = await startGateway(config, {
    backoff: { baseMs: 5, maxMs: 50, holdMs: 20 },
    logDestination: { write: (line: string) => void logs.push(line) },
  });
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: JOB_TOKEN, maxRetries: 0 });
  return {
    upstream,
    gateway,
    config,
    client,
    logs,
    close: async () => {
      await gateway.close();
      await upstream.close();
    },
  };
}

/** Stops the pair and checks that the gateway wrote neither secret to its log (for afterEach). */
export async function closeAndScrape(pair: Pair | undefined): Promise<void> {
  if (!pair) return;
  await pair.close();
  const logs = pair.logs.join("");
  expect(logs).not.toContain(UPSTREAM_KEY);
  expect(logs).not.toContain(JOB_TOKEN);
}
