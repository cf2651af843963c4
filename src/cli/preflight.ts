// `collab-operator preflight`: one endpoint, one verdict, on stdout and in the termination log (the endpoint preflight
// pod's containers run it). It reads the endpoint's settings and key from the same variables as the gateway sidecar.
// Exit code 0: ready; 1: not ready (the pod's restartPolicy OnFailure has the kubelet check again, with its backoff);
// 2: bad flags.
import { writeFileSync } from "node:fs";
import { API_KEY_ENV, GATEWAY_ENV_PREFIX, PREFLIGHT_SETTINGS } from "../contract/gateway-settings.ts";
import { type PreflightConfig, preflightConfig } from "../gateway/config.ts";
import { check } from "../gateway/preflight.ts";
import { Options } from "./options.ts";
import { type Command, command } from "./prologue.ts";

const options = new Options(GATEWAY_ENV_PREFIX, PREFLIGHT_SETTINGS);

export const preflightCommand: Command<PreflightConfig> = {
  name: "preflight",
  help: () =>
    [
      "usage: collab-operator preflight [flags]",
      "",
      "Checks one endpoint as the gateway would use it: reachable, key accepted, model served, one completion of",
      "max_tokens 1 answered. Writes the verdict as JSON to the termination log and exits 0 (ready) or 1 (not ready).",
      "",
      ...options.helpRows(),
      "",
      "Secrets come from the environment only:",
      `  ${API_KEY_ENV.padEnd(75)} upstream API key (optional)`,
    ].join("\n"),
  parse: (argv, env) => preflightConfig(options.read(argv, env), env),
  run: async (config) => {
    const result = await check(config);
    const json = JSON.stringify(result);
    process.stdout.write(`${json}\n`);
    try {
      writeFileSync(config.terminationLog, json);
    } catch (error) {
      process.stderr.write(`preflight: cannot write ${config.terminationLog}: ${(error as Error).message}\n`);
    }
    return result.ready ? 0 : 1;
  },
};

export const main = command(preflightCommand);
