// What the real node's pods would reach on the internet, played on this offline machine by one process of the harness
// (started by realnode.ts, or on its own: `node test/cluster/providers.ts <host> <llm-port> <hub-port>`):
//
//   llm  an OpenAI-compatible provider (fake-upstream.ts) that answers the CollabLLM recipe's prompts as a provider
//        would be asked to: the user simulator's JSON turn, the judge's JSON score per metric; and faults on demand
//   hub  the Hugging Face Hub's download API for any model id (config files) and any dataset id (JSON-lines rows)
//
// In the cluster they are the Services llm and hub in the namespace collab-realnode (selector-less, endpoints at this
// host). Tests and people steer the provider over HTTP on its own port, under /_control (never reached through the
// gateways, which only forward /v1):
//   POST /_control/faults   [Fault, ...]                 the next requests fail so (fake-upstream.ts Fault)
//   POST /_control/settings {latencyMs, scores, ramps, usage}   answers wait latencyMs; the judge's score per metric
//                                                        (or a ramp over its calls); token counts
//   GET  /_control/requests                              the requests seen (model, role asked for, headers redacted)
//   POST /_control/reset                                 all of the above back to the start
// The hub takes POST /_control/settings {datasetRows} on its own port.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import { type FakeUpstream, type Fault, startFakeUpstream } from "../unit/gateway/fake-upstream.ts";

/** The scores the judge gives until told otherwise. */
const DEFAULT_SCORES: Record<string, number> = { accuracy: 1, interactivity: 0.8 };
const REQUESTS_KEPT = 10_000;

/** What the recipe's prompts ask for: the user simulator's keys, or a judge's metric. */
export function askedFor(
  body: Record<string, unknown>,
): { role: "user-simulator" } | { role: "judge"; metric: string } | { role: "other" } {
  const messages = (body.messages ?? []) as { content?: unknown }[];
  const text = messages.map((m) => (typeof m.content === "string" ? m.content : "")).join("\n");
  if (/"current_answer", "thought" and "response"/.test(text)) return { role: "user-simulator" };
  const judge = /keys "thought" and "(\w+)"/.exec(text);
  if (judge) return { role: "judge", metric: judge[1]! };
  return { role: "other" };
}

export interface ProviderSettings {
  latencyMs: number;
  scores: Record<string, number>;
  /** A metric's score moving from `from` to `to` over its first `calls` judge calls (a policy that learns). */
  ramps: Record<string, { from: number; to: number; calls: number }>;
  usage: { prompt_tokens: number; completion_tokens: number };
}

const initialSettings = (): ProviderSettings => ({
  latencyMs: 0,
  scores: { ...DEFAULT_SCORES },
  ramps: {},
  usage: { prompt_tokens: 11, completion_tokens: 7 },
});

export async function startLlmProvider(host: string, port: number) {
  const settings = initialSettings();
  let turn = 0;
  const judged = new Map<string, number>();
  const score = (metric: string) => {
    const n = (judged.get(metric) ?? 0) + 1;
    judged.set(metric, n);
    const ramp = settings.ramps[metric];
    if (ramp) return Number((ramp.from + (ramp.to - ramp.from) * Math.min(1, n / ramp.calls)).toFixed(4));
    return settings.scores[metric] ?? 0.5;
  };
  const upstream: FakeUpstream = await startFakeUpstream({
    host,
    port,
    answer: (body) => {
      const asked = askedFor(body);
      if (asked.role === "user-simulator") {
        turn += 1;
        return JSON.stringify({
          current_answer: "not yet",
          thought: "The assistant asked a fair question.",
          response: `I need the answer as a fraction, please (turn ${turn}).`,
        });
      }
      if (asked.role === "judge") {
        if (asked.metric === "final_completion")
          return JSON.stringify({ thought: "extracted", final_completion: "1/2" });
        return JSON.stringify({ thought: "judged", [asked.metric]: score(asked.metric) });
      }
      return "Sure, here is what I think about that.";
    },
    intercept: async (req, res) => {
      const path = (req.url ?? "/").split("?", 1)[0]!;
      if (!path.startsWith("/_control/")) return false;
      if (req.method === "POST" && path === "/_control/faults") {
        upstream.script(...((await bodyOf(req)) as Fault[]));
      } else if (req.method === "POST" && path === "/_control/settings") {
        Object.assign(settings, await bodyOf(req));
      } else if (req.method === "POST" && path === "/_control/reset") {
        upstream.requests.length = 0;
        judged.clear();
        Object.assign(settings, initialSettings());
      } else if (req.method === "GET" && path === "/_control/requests") {
        const seen = upstream.requests.slice(-REQUESTS_KEPT).map((r) => ({
          model: r.body.model,
          maxTokens: r.body.max_tokens ?? r.body.max_completion_tokens,
          asked: askedFor(r.body),
          authorization: r.headers.authorization ? "present" : "absent",
          at: r.at,
        }));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(seen));
        return true;
      } else {
        res.writeHead(404).end();
        return true;
      }
      upstream.latencyMs = settings.latencyMs;
      Object.assign(upstream.usage, settings.usage);
      res.writeHead(204).end();
      return true;
    },
  });
  return upstream;
}

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
}

// ---- the Hub ----

/** The files of a model repository: enough of a checkpoint's config for a trainer to read. */
function modelFiles(repo: string): Record<string, string> {
  return {
    "config.json": JSON.stringify({ architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", _name_or_path: repo }),
    "generation_config.json": JSON.stringify({ do_sample: true }),
    "tokenizer_config.json": JSON.stringify({ model_max_length: 32768 }),
  };
}

/** A dataset of `rows` CollabLLM-style examples (the columns process_dataset.py reads). */
function datasetFiles(repo: string, rows: number): Record<string, string> {
  const lines = Array.from({ length: rows }, (_, k) =>
    JSON.stringify({
      prompt: [{ role: "user", content: `Problem ${k} of ${repo}: what is ${k} + 1/2?` }],
      single_turn_prompt: `What is ${k} + 1/2? Answer as a fraction.`,
      single_turn_completion: `${2 * k + 1}/2`,
      completion: `It is ${2 * k + 1}/2.`,
      conv_id: k,
      turn_id: 0,
      score: 1,
    }),
  );
  return { "data/train.jsonl": `${lines.join("\n")}\n` };
}

const sha = (text: string) => createHash("sha1").update(text).digest("hex");

export async function startHub(host: string, port: number) {
  const settings = { datasetRows: 32 };
  const files = (kind: "models" | "datasets", repo: string) =>
    kind === "models" ? modelFiles(repo) : datasetFiles(repo, settings.datasetRows);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?", 1)[0]!);
    if (req.method === "POST" && path === "/_control/settings") {
      Object.assign(settings, await bodyOf(req));
      res.writeHead(204).end();
      return;
    }
    // GET /api/{models|datasets}/{org}/{name}[/revision/{rev}]: the repository's info with its files.
    const info = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)(?:\/revision\/[^/]+)?$/.exec(path);
    if (info) {
      const kind = info[1] as "models" | "datasets";
      const repo = info[2]!;
      const listed = files(kind, repo);
      const commit = sha(JSON.stringify(listed));
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          id: repo,
          sha: commit,
          siblings: Object.keys(listed).map((rfilename) => ({ rfilename })),
          private: false,
        }),
      );
      return;
    }
    // GET /api/{models|datasets}/{org}/{name}/tree/{rev}: its files (huggingface_hub's snapshot_download lists them).
    const tree = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/tree\/[^/]+$/.exec(path);
    if (tree) {
      const listed = files(tree[1] as "models" | "datasets", tree[2]!);
      const entries = Object.entries(listed).map(([file, content]) => ({
        type: "file",
        path: file,
        size: Buffer.byteLength(content),
        oid: sha(content),
      }));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(entries));
      return;
    }
    // {HEAD|GET} [/datasets]/{org}/{name}/resolve/{rev}/{file}
    const resolve = /^(\/datasets)?\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (resolve) {
      const listed = files(resolve[1] ? "datasets" : "models", resolve[2]!);
      const content = listed[resolve[4]!];
      if (content === undefined) {
        res.writeHead(404, { "x-error-code": "EntryNotFound" }).end("Entry not found");
        return;
      }
      res.writeHead(200, {
        "content-type": "application/octet-stream",
        "content-length": Buffer.byteLength(content),
        etag: `"${sha(content)}"`,
        "x-repo-commit": sha(JSON.stringify(listed)),
      });
      res.end(req.method === "HEAD" ? undefined : content);
      return;
    }
    res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: `no route ${path}` }));
  });
  await new Promise<void>((r) => server.listen(port, host, r));
  return { url: `http://${host}:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

// ---- as a process ----

/** Starts both on `host`. */
export async function startProviders(host: string, llmPort: number, hubPort: number) {
  const llm = await startLlmProvider(host, llmPort);
  const hub = await startHub(host, hubPort);
  return { llm: llm.url, hub: hub.url };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [host = "127.0.0.1", llmPort = "18700", hubPort = "18701"] = process.argv.slice(2);
  const urls = await startProviders(host, Number(llmPort), Number(hubPort));
  process.stdout.write(`${JSON.stringify(urls)}\n`);
  process.once("SIGTERM", () => process.exit(0));
}
