// `collab-operator gateway`: the user-simulator or judge sidecar of a training pod. Its settings come from flags or
// the COLLAB_GATEWAY_* variables the operator renders (contract/gateway-settings.ts); it runs until SIGTERM or SIGINT,
// then sends a last report and exits.
import { API_KEY_ENV, GATEWAY_ENV_PREFIX, GATEWAY_SETTINGS, TOKEN_ENV } from "../contract/gateway-settings.ts";
import { type GatewayConfig, gatewayConfig } from "../gateway/config.ts";
import { startGateway } from "../gateway/gateway.ts";
import { Options } from "./options.ts";
import { type Command, command } from "./prologue.ts";

const options = new Options(GATEWAY_ENV_PREFIX, GATEWAY_SETTINGS);

export const gatewayCommand: Command<GatewayConfig> = {
  name: "gateway",
  help: () =>
    [
      "usage: collab-operator gateway [flags]",
      "",
      "OpenAI-compatible sidecar for the user simulator or the judge: auth, model mapping, limits, retries, usage, progress.",
      "",
      ...options.helpRows(),
      "",
      "Secrets come from the environment only:",
      `  ${API_KEY_ENV.padEnd(75)} upstream API key (optional)`,
      `  ${TOKEN_ENV.padEnd(75)} token clients must send as 'Authorization: Bearer' (required)`,
    ].join("\n"),
  parse: (argv, env) => gatewayConfig(options.read(argv, env), env),
  run: async (config) => {
    const gateway = await startGateway(config);
    await new Promise<void>((resolve) => {
      process.once("SIGTERM", resolve);
      process.once("SIGINT", resolve);
    });
    await gateway.close();
    return 0;
  },
};

export const main = command(gatewayCommand);
