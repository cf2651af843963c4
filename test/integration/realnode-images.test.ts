// The images the real node runs, read from the archives the harness built (test/cluster/images.ts): the operator
// image is the Dockerfile's runtime stage (distroless Node 24's layout and the config its instructions give), and no
// container or probe the operator renders, for any job of the examples and test specs, runs a program its image does
// not have at that path (the gateways' startup probe once ran `node`, which distroless has only at /nodejs/bin/node).
import type { V1Container, V1Pod, V1Probe } from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { jobObjects } from "../../src/children/objects.ts";
import type { OperatorContext } from "../../src/children/pods.ts";
import { args, DISTROLESS_NODEJS_NONROOT, type ImageConfig, lineOf, stages } from "../cluster/dockerfile.ts";
import { allImages, imageConfigOf, imageFilesystem } from "../cluster/images.ts";
import { cases } from "../unit/verl/cases.ts";

let images: ReturnType<typeof allImages>;
beforeAll(() => {
  images = allImages();
}, 1_800_000);

describe("the operator image", () => {
  it("is the Dockerfile's runtime stage: its ENTRYPOINT, CMD, USER, WORKDIR, ENV and EXPOSE, on distroless's config", () => {
    const config = imageConfigOf(images.operator.archive);
    const runtime = stages().at(-1)!;
    const last = (keyword: string) => runtime.instructions.filter((i) => i.getKeyword() === keyword).at(-1);
    expect(config.Entrypoint).toEqual(JSON.parse(lineOf(last("ENTRYPOINT")!)));
    expect(config.Cmd).toEqual(JSON.parse(lineOf(last("CMD")!)));
    expect(config.User).toBe(args(last("USER")!)[0]);
    expect(config.WorkingDir).toBe(args(last("WORKDIR")!)[0]);
    for (const pair of runtime.instructions.filter((i) => i.getKeyword() === "ENV").flatMap(args)) {
      expect(config.Env).toContain(pair);
    }
    // The base's own settings stay unless the Dockerfile sets them: node is not on its PATH.
    expect(config.Env).toContain(DISTROLESS_NODEJS_NONROOT.Env[0]);
    expect(Object.keys(config.ExposedPorts ?? {}).sort()).toEqual(
      runtime.instructions
        .filter((i) => i.getKeyword() === "EXPOSE")
        .flatMap(args)
        .map((p) => `${p}/tcp`)
        .sort(),
    );
  });

  it("has distroless's layout: node only at /nodejs/bin/node, no shell, the app where the ENTRYPOINT runs it", () => {
    const fs = imageFilesystem(images.operator.archive);
    const config = imageConfigOf(images.operator.archive);
    const path = pathOf(config, undefined);
    expect(fs.program("/nodejs/bin/node", path)).toBe("/nodejs/bin/node");
    for (const missing of ["node", "sh", "bash", "npm"]) expect(fs.program(missing, path), missing).toBeUndefined();
    for (const arg of config.Entrypoint!.filter((a) => a.startsWith("/"))) expect(fs.find(arg), arg).toBeDefined();
    // The COPY of /app: the production install, no dev dependency.
    expect(fs.find("/app/node_modules/zod/package.json")).toBeDefined();
    expect(fs.find("/app/node_modules/vitest")).toBeUndefined();
    expect(fs.find("/home/nonroot")?.type).toBe("dir");
    expect(config.User).toMatch(/^\d+:\d+$/);
  });
});

/** The PATH a container's process gets: its own env's, else its image's. */
function pathOf(image: ImageConfig, container: V1Container | undefined): string {
  return (
    container?.env?.find((e) => e.name === "PATH")?.value ??
    image.Env.find((e) => e.startsWith("PATH="))?.slice("PATH=".length) ??
    ""
  );
}

/** Every program a container makes the runtime start: its command (or the image's entrypoint), its probes' execs. */
function programs(container: V1Container, image: ImageConfig): { what: string; program: string }[] {
  const main = container.command?.[0] ?? image.Entrypoint?.[0] ?? container.args?.[0];
  const probes: [string, V1Probe | undefined][] = [
    ["startupProbe", container.startupProbe],
    ["livenessProbe", container.livenessProbe],
    ["readinessProbe", container.readinessProbe],
  ];
  return [
    ...(main ? [{ what: "command", program: main }] : []),
    ...probes.flatMap(([what, probe]) => (probe?.exec?.command?.[0] ? [{ what, program: probe.exec.command[0] }] : [])),
    ...(container.lifecycle?.preStop?.exec?.command?.[0]
      ? [{ what: "preStop", program: container.lifecycle.preStop.exec.command[0] }]
      : []),
  ];
}

describe("every program a container runs is in its image", () => {
  it("for every pod of every example and test job: commands, entrypoints, probes, hooks", () => {
    const ctx: OperatorContext = {
      operatorImage: images.operator.ref,
      trainerImage: images.trainer.ref,
      bigcodebenchTrainerImage: images.trainer.ref,
      reportBaseURL: "http://collab-operator.collab-system.svc:8081",
    };
    const byRef = new Map(
      [images.operator, images.trainer].map((image) => [
        image.ref,
        { fs: imageFilesystem(image.archive), config: imageConfigOf(image.archive) },
      ]),
    );
    const missing: string[] = [];
    let checked = 0;
    for (const { name, job } of cases()) {
      // The jobs that name an image of their own run it; here every trainer is the CPU image.
      const placed = { ...job, spec: { ...job.spec, runtime: { ...job.spec.runtime, image: undefined } } };
      const pods = jobObjects(placed, ctx).filter((o): o is V1Pod => (o as V1Pod).kind === "Pod");
      for (const pod of pods) {
        for (const container of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
          const image = byRef.get(container.image!);
          if (!image) throw new Error(`${name}: ${pod.metadata?.name}/${container.name} runs ${container.image}`);
          for (const { what, program } of programs(container, image.config)) {
            checked++;
            if (!image.fs.program(program, pathOf(image.config, container))) {
              missing.push(
                `${name}: ${pod.metadata?.name}/${container.name} ${what} runs ${program}, not in ${container.image}`,
              );
            }
          }
        }
      }
    }
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThan(50);
  });
});
