// The operator image's Dockerfile, read as a builder would: its stages, the build stage replayed into a directory
// (test/unit/packaging/dockerfile.test.ts runs the result; images.ts packs it), and the runtime stage's config.
// No container engine runs here and no base image can be pulled, so the runtime stage's base is described below from
// its published config, and images.ts assembles the same filesystem.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { ROOT } from "./cluster.ts";

export const DOCKERFILE_TEXT = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const dockerfile = DockerfileParser.parse(DOCKERFILE_TEXT);

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** The instructions of each stage, in order. */
export function stages(): Stage[] {
  const out: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    if (keyword === "FROM") {
      const args = instruction.getArguments().map((a) => a.getValue());
      out.push({ from: args[0] as string, name: args[2], instructions: [] });
    } else out.at(-1)?.instructions.push(instruction);
  }
  return out;
}

export const args = (i: Instruction) => i.getArguments().map((a) => a.getValue());

/** The instruction's text after its keyword (for exec-form JSON arrays). */
export function lineOf(i: Instruction): string {
  const range = i.getRange();
  const lines = DOCKERFILE_TEXT.split("\n").slice(range.start.line, range.end.line + 1);
  return lines.join("\n").replace(/^\S+\s+/, "");
}

/** An ARG's default value. */
export const argDefault = (name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, "m").exec(DOCKERFILE_TEXT)?.[1];

/**
 * Does what the build stage does, in `root` standing for the build stage's filesystem: WORKDIR, COPY from the
 * repository (the build context), RUN through sh. Returns the directory the runtime stage copies (/app).
 */
export function replayBuildStage(root: string): string {
  const [build] = stages();
  let workdir = root;
  for (const instruction of build!.instructions) {
    const [first, ...rest] = args(instruction);
    switch (instruction.getKeyword()) {
      case "WORKDIR":
        workdir = join(root, first as string);
        mkdirSync(workdir, { recursive: true });
        break;
      case "COPY": {
        const all = [first as string, ...rest];
        const dest = join(workdir, all.at(-1) as string);
        for (const source of all.slice(0, -1)) {
          cpSync(join(ROOT, source), all.length > 2 ? join(dest, source) : dest, { recursive: true });
        }
        break;
      }
      case "RUN":
        execFileSync("sh", ["-c", [first, ...rest].join(" ")], { cwd: workdir, stdio: "pipe" });
        break;
      default:
        throw new Error(`the replay does not know ${instruction.getKeyword()}: teach it before using it`);
    }
  }
  // The runtime copies /app as it is, owned by root and not writable by the image's user.
  execFileSync("chmod", ["-R", "go-w,a+rX", root]);
  return join(root, "app");
}

/** An image's config as the OCI image spec names its fields (docker save writes the same). */
export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  User?: string;
  WorkingDir?: string;
  Env: string[];
  ExposedPorts?: Record<string, Record<string, never>>;
}

/**
 * gcr.io/distroless/nodejs24-debian13:nonroot's own config (GoogleContainerTools/distroless: nodejs/BUILD and
 * base/base.bzl): node at /nodejs/bin/node, which is not on PATH, the nonroot user 65532 and its home as the working
 * directory, and the CA bundle named for OpenSSL.
 */
export const DISTROLESS_NODEJS_NONROOT: ImageConfig = {
  Entrypoint: ["/nodejs/bin/node"],
  User: "65532",
  WorkingDir: "/home/nonroot",
  Env: [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
  ],
};

/** The runtime stage's instructions applied to its base's config, as a builder does: the image's final config. */
export function runtimeConfig(base: ImageConfig = DISTROLESS_NODEJS_NONROOT): ImageConfig {
  const runtime = stages().at(-1)!;
  const config: ImageConfig = { ...base, Env: [...base.Env] };
  let entrypointSet = false;
  for (const instruction of runtime.instructions) {
    const values = args(instruction);
    switch (instruction.getKeyword()) {
      case "WORKDIR":
        config.WorkingDir = values[0];
        break;
      case "USER":
        config.User = values[0];
        break;
      case "ENV":
        for (const pair of values) {
          const [name] = pair.split("=", 1);
          config.Env = [...config.Env.filter((e) => !e.startsWith(`${name}=`)), pair];
        }
        break;
      case "EXPOSE":
        config.ExposedPorts = { ...config.ExposedPorts, ...Object.fromEntries(values.map((p) => [`${p}/tcp`, {}])) };
        break;
      case "ENTRYPOINT":
        config.Entrypoint = JSON.parse(lineOf(instruction));
        entrypointSet = true;
        // As Docker does: a new ENTRYPOINT drops the base image's CMD.
        if (!runtime.instructions.some((i) => i.getKeyword() === "CMD")) delete config.Cmd;
        break;
      case "CMD":
        config.Cmd = JSON.parse(lineOf(instruction));
        break;
      case "COPY":
        break;
      default:
        throw new Error(`the runtime stage has ${instruction.getKeyword()}, which runtimeConfig does not know`);
    }
  }
  if (!entrypointSet) throw new Error("the runtime stage sets no ENTRYPOINT");
  return config;
}
