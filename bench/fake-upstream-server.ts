// Runs the test suite's fake OpenAI-compatible upstream as its own process for the gateway benchmark; prints its URL.
import { startFakeUpstream } from "../test/unit/gateway/fake-upstream.ts";

const upstream = await startFakeUpstream({ record: false });
process.stdout.write(`${upstream.url}\n`);
process.once("SIGTERM", () => upstream.close().then(() => process.exit(0)));
