// The Node flags the image starts every command with (the Dockerfile's ENTRYPOINT, between node and src/cli.ts): the
// local operator (`npm run start:local`) and the benchmark start the operator as the image does.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./cluster.ts";

export function imageNodeFlags(): string[] {
  const line = readFileSync(join(ROOT, "Dockerfile"), "utf8")
    .split("\n")
    .findLast((l) => l.startsWith("ENTRYPOINT "));
  if (!line) throw new Error("Dockerfile: no ENTRYPOINT");
  const entrypoint = JSON.parse(line.slice("ENTRYPOINT ".length)) as string[];
  return entrypoint.slice(1, entrypoint.indexOf("/app/src/cli.ts"));
}
