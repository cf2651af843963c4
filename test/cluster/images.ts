// Container images for the real node, assembled offline: no registry is reachable and no container engine runs
// here, so a Dockerfile's FROM cannot be built. Each image is a few layers, each a directory tarred reproducibly and
// cached outside the repository under a hash of its inputs, packed in `docker save`'s archive format, which
// containerd imports (`ctr images import`). Tags are the hash of the layers and config, so an image whose inputs
// did not change is neither rebuilt nor imported again.
//
//   operator  the Dockerfile's runtime stage: distroless Node 24's layout (node at /nodejs/bin/node, not on PATH, no
//             shell, user 65532), the build stage replayed for /app, the config the Dockerfile gives (dockerfile.ts)
//   trainer   a CPU stand-in for images/trainer: Python, Ray, litellm, hydra-core and veRL 0.6.0's package, with the
//             GPU entry points replaced at one seam (images/trainer-cpu/README.md)
//   pause     the pod sandbox's process (pause.c)
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, normalize, relative } from "node:path";
import { ROOT } from "./cluster.ts";
import { argDefault, type ImageConfig, replayBuildStage, runtimeConfig } from "./dockerfile.ts";
import { ensurePackages } from "./packages.ts";

const CACHE =
  process.env.COLLAB_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "collab-operator");
const IMAGES = join(CACHE, "images");
const log = (msg: string) => process.stderr.write(`[images] ${msg}\n`);

/** Debian's mirror, as the machine's apt sources name it; the registries are the only network here. */
const MIRROR = process.env.COLLAB_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
/** The image user of distroless's nonroot variants, and of the gateway sidecars (src/children/pods.ts). */
export const NONROOT = 65532;

export interface Image {
  /** repository:tag, the name pods use. */
  ref: string;
  /** The `docker save` archive containerd imports. */
  archive: string;
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/** A hash of files and directories (paths relative to the repository, contents, modes) and extra strings. */
export function inputsHash(paths: string[], extra: string[] = []): string {
  const hash = createHash("sha256");
  for (const text of extra) hash.update(`${text}\0`);
  const visit = (rel: string) => {
    const abs = join(ROOT, rel);
    const stat = statSync(abs);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(abs).sort()) if (entry !== "__pycache__") visit(join(rel, entry));
      return;
    }
    hash.update(`${rel}\0${stat.mode & 0o111 ? "x" : "-"}\0`);
    hash.update(readFileSync(abs));
    hash.update("\0");
  };
  for (const path of [...paths].sort()) visit(path);
  return hash.digest("hex").slice(0, 16);
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  try {
    return execFileSync(command, args, {
      ...options,
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 256 * 1024 * 1024,
    }).toString();
  } catch (error) {
    const e = error as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(
      `${command} ${args.join(" ")}: ${e.stderr?.toString().trim() || e.stdout?.toString().trim() || String(error)}`,
    );
  }
}

/**
 * Keeps the newest `keep` files of a directory whose names start with `prefix` (older builds of one layer or
 * image): every change to src/ makes a new operator image, which would otherwise fill the disk over a day's work.
 */
function prune(dir: string, prefix: string, keep = 3): void {
  if (!existsSync(dir)) return;
  const builds = readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith(".tar"))
    .map((f) => ({ f, at: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const { f } of builds.slice(keep)) {
    rmSync(join(dir, f), { force: true });
    rmSync(join(dir, `${f}.sha256`), { force: true });
  }
}

/** Builds `out` through a scratch directory renamed into place, so an interrupted build leaves nothing half made. */
function once<T>(out: string, build: (scratch: string) => T): void {
  if (existsSync(out)) return;
  mkdirSync(dirname(out), { recursive: true });
  const scratch = `${out}.tmp.${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  build(scratch);
  try {
    renameSync(scratch, out);
  } catch (error) {
    // Another process built the same inputs meanwhile: theirs is as good.
    if (!existsSync(out)) throw error;
    rmSync(scratch, { recursive: true, force: true });
  }
}

// ---- Debian roots ----

/** A minimal Debian root (debootstrap's minbase) with `include`d packages, cached by suite, packages and version. */
function debianRoot(suite: string, include: string[]): string {
  const version = run("debootstrap", ["--version"]).trim();
  const dir = join(IMAGES, "roots", `${suite}-${sha256([suite, ...include, version].join(" ")).slice(0, 12)}`);
  once(dir, (scratch) => {
    log(`debootstrap ${suite} (minbase + ${include.join(", ")}): about a minute`);
    const args = ["--variant=minbase", ...(include.length ? [`--include=${include.join(",")}`] : [])];
    run("debootstrap", [...args, suite, scratch, MIRROR]);
    // apt's lists and caches are not part of any image made from this root.
    for (const path of ["var/cache/apt/archives", "var/lib/apt/lists"]) {
      rmSync(join(scratch, path), { recursive: true, force: true });
      mkdirSync(join(scratch, path), { recursive: true });
    }
  });
  return dir;
}

// ---- layers and archives ----

interface Layer {
  tar: string;
  /** sha256 of the uncompressed tar, as the image config's rootfs.diff_ids lists it. */
  diffId: string;
}

/** A layer: the directory `fill` makes, tarred reproducibly (sorted, numeric owners, mtime 0), cached by key. */
function layer(name: string, key: string, fill: (dir: string) => void): Layer {
  const tar = join(IMAGES, "layers", `${name}-${key}.tar`);
  once(tar, (scratch) => {
    log(`layer ${name} (${key})`);
    const dir = `${scratch}.d`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o755 });
    try {
      fill(dir);
      run("tar", ["--numeric-owner", "--sort=name", "--mtime=@0", "--xattrs", "-C", dir, "-cf", scratch, "."]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    writeFileSync(`${scratch}.sha256`, run("sha256sum", [scratch]).split(" ")[0]!);
    renameSync(`${scratch}.sha256`, `${tar}.sha256`);
    prune(dirname(tar), `${name}-`);
  });
  return { tar, diffId: `sha256:${readFileSync(`${tar}.sha256`, "utf8").trim()}` };
}

/** The image's archive in `docker save` format: manifest.json, the config, one directory per layer. */
function image(repository: string, layers: Layer[], config: ImageConfig): Image {
  const imageConfig = {
    architecture: "amd64",
    os: "linux",
    config,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created_by: "test/cluster/images.ts" })),
  };
  const configJson = JSON.stringify(imageConfig);
  const configDigest = sha256(configJson);
  const ref = `${repository}:${configDigest.slice(0, 12)}`;
  const archive = join(IMAGES, "archives", `${basename(repository)}-${configDigest.slice(0, 12)}.tar`);
  once(archive, (scratch) => {
    const dir = `${scratch}.d`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(join(dir, `${configDigest}.json`), configJson);
      const layerPaths = layers.map((l) => {
        const path = `${l.diffId.slice("sha256:".length)}/layer.tar`;
        mkdirSync(join(dir, dirname(path)), { recursive: true });
        linkSync(l.tar, join(dir, path));
        return path;
      });
      writeFileSync(
        join(dir, "manifest.json"),
        JSON.stringify([{ Config: `${configDigest}.json`, RepoTags: [ref], Layers: layerPaths }]),
      );
      const members = [`${configDigest}.json`, "manifest.json", ...layerPaths];
      run("tar", ["--mtime=@0", "--hard-dereference", "-C", dir, "-cf", scratch, ...members]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    prune(dirname(archive), `${basename(repository)}-`);
  });
  return { ref, archive };
}

// ---- distroless Node runtime (the operator image's base) ----

/** Copies a file of a root to the same path under `dir`, its symbolic links resolved inside the root. */
function copyFromRoot(root: string, path: string, dir: string): void {
  const real = run("chroot", [root, "/usr/bin/readlink", "-f", path]).trim();
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  copyFileSync(join(root, real), join(dir, path));
}

/** The shared libraries a binary needs, resolved inside a root (ldd run in it). */
function librariesOf(root: string, binaryInRoot: string): string[] {
  const out = run("chroot", [root, "/usr/bin/ldd", binaryInRoot]);
  return [...out.matchAll(/(?:=> )?(\/\S+) \(0x/g)].map((m) => m[1]!);
}

/**
 * What distroless's nodejs24-debian13:nonroot holds that node needs, from a Debian 13 root: glibc and the C++
 * runtime, the CA bundle, the passwd and group files with root, nobody and nonroot (65532), /tmp, nonroot's home,
 * and node at /nodejs/bin/node. No shell and no other program.
 */
function distrolessNodeLayer(): Layer {
  const nodeVersion = argDefault("NODE_VERSION");
  const nodeBinary = join(ROOT, "node_modules/node/bin/node");
  const installed = run(nodeBinary, ["--version"]).trim();
  if (installed !== `v${nodeVersion}`) {
    throw new Error(`the Dockerfile's NODE_VERSION is ${nodeVersion} but node_modules has node ${installed}: npm ci`);
  }
  const include = ["ca-certificates", "libstdc++6"];
  // The layout below is an input too: its own source text.
  const key = sha256(["trixie", ...include, installed, distrolessNodeLayer.toString()].join(" ")).slice(0, 16);
  return layer("distroless-nodejs24", key, (dir) => {
    const root = debianRoot("trixie", include);
    mkdirSync(join(dir, "nodejs/bin"), { recursive: true });
    copyFileSync(nodeBinary, join(dir, "nodejs/bin/node"));
    chmodSync(join(dir, "nodejs/bin/node"), 0o755);
    copyFileSync(nodeBinary, join(root, "tmp/node"));
    for (const lib of librariesOf(root, "/tmp/node")) copyFromRoot(root, lib, dir);
    rmSync(join(root, "tmp/node"));
    // /lib64 and /lib are links in a merged-/usr Debian 13; keep them links.
    for (const link of ["lib64", "lib"]) {
      if (existsSync(join(dir, link)) && !existsSync(join(dir, "usr", link))) {
        mkdirSync(join(dir, "usr"), { recursive: true });
        renameSync(join(dir, link), join(dir, "usr", link));
      }
      if (existsSync(join(dir, "usr", link))) symlinkSync(`usr/${link}`, join(dir, link));
    }
    for (const file of ["/etc/ssl/certs/ca-certificates.crt", "/etc/os-release", "/etc/nsswitch.conf"]) {
      copyFromRoot(root, file, dir);
    }
    writeFileSync(
      join(dir, "etc/passwd"),
      [
        "root:x:0:0:root:/root:/sbin/nologin",
        "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin",
        `nonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin`,
        "",
      ].join("\n"),
    );
    writeFileSync(join(dir, "etc/group"), ["root:x:0:", "nobody:x:65534:", `nonroot:x:${NONROOT}:`, ""].join("\n"));
    mkdirSync(join(dir, "root"), { mode: 0o700 });
    mkdirSync(join(dir, "tmp"));
    chmodSync(join(dir, "tmp"), 0o1777);
    mkdirSync(join(dir, "home"), { mode: 0o755 });
    mkdirSync(join(dir, "home/nonroot"), { mode: 0o700 });
    chownSync(join(dir, "home/nonroot"), NONROOT, NONROOT);
  });
}

/** The repository's files the operator image's build stage copies (its COPY lines), for the layer's key. */
const OPERATOR_INPUTS = ["Dockerfile", "package.json", "package-lock.json", "src"];

export function operatorImage(): Image {
  const app = layer("operator-app", inputsHash(OPERATOR_INPUTS), (dir) => {
    const build = join(dir, "..", `${basename(dir)}.build`);
    rmSync(build, { recursive: true, force: true });
    mkdirSync(build, { mode: 0o755 });
    try {
      renameSync(replayBuildStage(build), join(dir, "app"));
    } finally {
      rmSync(build, { recursive: true, force: true });
    }
  });
  return image("collab.local/collab-operator", [distrolessNodeLayer(), app], runtimeConfig());
}

// ---- pause ----

export function pauseImage(): Image {
  const source = "test/cluster/pause.c";
  const pause = layer("pause", inputsHash([source]), (dir) => {
    run("gcc", ["-static", "-Os", "-s", "-o", join(dir, "pause"), join(ROOT, source)]);
  });
  return image("collab.local/pause", [pause], { Entrypoint: ["/pause"], User: "65535:65535", Env: [] });
}

// ---- the CPU trainer ----

const TRAINER_DIR = "images/trainer-cpu";

/** A marker line of requirements.txt (`# <name>: <pin>`), for the packages pip cannot take from it as they are. */
const markedPins = (text: string, marker: string) =>
  text.split("\n").flatMap((line) => new RegExp(`^# ${marker}: *(\\S+)`).exec(line)?.[1] ?? []);

/**
 * Wheels for the trainer's Python, fetched by the host's pip for the image's interpreter: pip inside a
 * debootstrapped root does not trust the CA this machine's registry access goes through.
 */
function wheels(requirements: string, python: string): string {
  const dir = join(IMAGES, "wheels", inputsHash([requirements], [python]));
  once(dir, (scratch) => {
    log(`pip download for the trainer image (${requirements}): about a minute`);
    mkdirSync(scratch, { recursive: true });
    const text = readFileSync(join(ROOT, requirements), "utf8");
    const target = [
      ...["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"].flatMap((p) => ["--platform", p]),
      ...["--python-version", python, "--implementation", "cp", "--only-binary=:all:"],
    ];
    const sdists = markedPins(text, "sdist");
    if (sdists.length > 0) run("pip", ["wheel", "--quiet", "--no-deps", "-w", scratch, ...sdists]);
    run("pip", [
      "download",
      "--quiet",
      "--find-links",
      scratch,
      ...target,
      "-d",
      scratch,
      "-r",
      join(ROOT, requirements),
    ]);
    const noDeps = markedPins(text, "no-deps");
    if (noDeps.length > 0) run("pip", ["download", "--quiet", "--no-deps", ...target, "-d", scratch, ...noDeps]);
  });
  return dir;
}

const TRAINER_REQUIREMENTS = `${TRAINER_DIR}/requirements.txt`;

/** Debian 12's Python 3.11 (the version the host's pip fetches wheels for) with the trainer's packages. */
function trainerPythonLayer(): Layer {
  const include = ["python3", "python3-pip", "ca-certificates", "procps"];
  return layer("trainer-python", inputsHash([TRAINER_REQUIREMENTS], ["bookworm", ...include]), (dir) => {
    cpSync(debianRoot("bookworm", include), dir, { recursive: true, verbatimSymlinks: true });
    cpSync(wheels(TRAINER_REQUIREMENTS, "3.11"), join(dir, "tmp/wheels"), { recursive: true });
    cpSync(join(ROOT, TRAINER_REQUIREMENTS), join(dir, "tmp/requirements.txt"));
    const pip = ["python3", "-m", "pip", "install", "--quiet", "--no-index", "--break-system-packages"];
    run("chroot", [dir, ...pip, "--find-links", "/tmp/wheels", "-r", "/tmp/requirements.txt"]);
    for (const path of ["tmp/wheels", "tmp/requirements.txt", "root/.cache"]) {
      rmSync(join(dir, path), { recursive: true, force: true });
    }
  });
}

/**
 * What the CPU trainer image tells its processes beyond images/trainer's env (README.md): this machine is offline,
 * so the Hugging Face Hub is the harness's stand-in (realnode.ts) and litellm uses its own copy of the model cost map.
 */
export const TRAINER_OFFLINE_ENV = {
  HF_ENDPOINT: "http://hub.collab-realnode.svc.cluster.local",
  LITELLM_LOCAL_MODEL_COST_MAP: "True",
};

export function trainerImage(): Image {
  const found = wheels(TRAINER_REQUIREMENTS, "3.11");
  const standIns = layer("trainer-standins", inputsHash([TRAINER_DIR], [basename(found)]), (dir) => {
    run("bash", [join(ROOT, TRAINER_DIR, "install-standins.sh"), dir, found]);
  });
  return image("collab.local/collab-trainer-cpu", [trainerPythonLayer(), standIns], {
    WorkingDir: "/opt/verl",
    Env: [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      // As images/trainer sets them.
      "PYTHONPATH=/opt/verl",
      "VLLM_USE_V1=1",
      "PYTHONUNBUFFERED=1",
      ...Object.entries(TRAINER_OFFLINE_ENV).map(([k, v]) => `${k}=${v}`),
    ],
  });
}

/** Every image the real node runs, built when missing. */
export function allImages(): { operator: Image; trainer: Image; pause: Image } {
  ensurePackages();
  return { pause: pauseImage(), operator: operatorImage(), trainer: trainerImage() };
}

interface Entry {
  type: "file" | "dir" | "link";
  executable: boolean;
  /** A symbolic link's target, as written. */
  target?: string;
}

/**
 * An image's filesystem as a container sees it (every layer in order; no whiteouts are written by this builder), read
 * from its archive: which paths exist and which are executable programs, symbolic links followed as the kernel would.
 */
export function imageFilesystem(archive: string) {
  const manifest = manifestOf(archive);
  const entries = new Map<string, Entry>();
  for (const layerPath of manifest[0]!.Layers) {
    const listing = execFileSync("bash", ["-c", 'tar -xOf "$1" "$2" | tar -tv', "list", archive, layerPath], {
      maxBuffer: 256 * 1024 * 1024,
    }).toString();
    for (const line of listing.split("\n")) {
      const m = /^(\S)(\S{9}) \S+\s+\d+ \S+ \S+ (.+?)(?: -> (.+)| link to (.+))?$/.exec(line);
      if (!m) continue;
      const path = `/${relative(".", m[3]!)}`;
      const type = m[1] === "l" ? "link" : m[1] === "d" ? "dir" : "file";
      const executable =
        /x/.test(m[2]!) || (m[5] !== undefined && entries.get(`/${relative(".", m[5])}`)?.executable === true);
      entries.set(path, { type, executable, ...(m[4] ? { target: m[4] } : {}) });
    }
  }
  const resolve = (path: string, hops = 0): string | undefined => {
    if (hops > 40) return undefined;
    let current = "";
    const parts = path.split("/").filter(Boolean);
    for (const [i, part] of parts.entries()) {
      const candidate = `${current}/${part}`;
      const entry = entries.get(candidate);
      if (!entry) return undefined;
      if (entry.type === "link") {
        const target = entry.target!.startsWith("/") ? entry.target! : `${current}/${entry.target}`;
        return resolve(normalize([target, ...parts.slice(i + 1)].join("/")), hops + 1);
      }
      current = candidate;
    }
    return current || "/";
  };
  const find = (path: string) => {
    const real = resolve(path);
    return real === undefined
      ? undefined
      : real === "/"
        ? ({ type: "dir", executable: true } as Entry)
        : entries.get(real);
  };
  return {
    find,
    /** The program a container would run for `name`: a path as it is, a bare name looked up in PATH. */
    program(name: string, path: string): string | undefined {
      const candidates = name.includes("/") ? [name] : path.split(":").map((dir) => `${dir}/${name}`);
      return candidates.find((c) => {
        const entry = find(c);
        return entry?.type === "file" && entry.executable;
      });
    },
  };
}

/** An image's config, read from its archive. */
export function imageConfigOf(archive: string): ImageConfig {
  return (JSON.parse(run("tar", ["-xOf", archive, manifestOf(archive)[0]!.Config])) as { config: ImageConfig }).config;
}

function manifestOf(archive: string): { Config: string; Layers: string[] }[] {
  return JSON.parse(run("tar", ["-xOf", archive, "manifest.json"]));
}
