// TTL policy: spec.ttlSecondsAfterFinished deletes a finished job that long after status.completionTime.
import { describe, expect, it } from "vitest";
import { type TtlCheck, ttlCheck } from "../../../../src/operator/plan/ttl.ts";
import { at, NOW } from "./world.ts";

describe("ttlCheck", () => {
  it.each<{ name: string; ttl: number | undefined; completionTime: string | undefined; check: TtlCheck }>([
    { name: "no TTL: kept forever", ttl: undefined, completionTime: at(-1_000_000), check: undefined },
    { name: "not finished", ttl: 0, completionTime: undefined, check: undefined },
    { name: "TTL 0: deleted as soon as it finished", ttl: 0, completionTime: NOW, check: { deleteJob: true } },
    {
      name: "just finished: wakes a second after the TTL",
      ttl: 600,
      completionTime: NOW,
      check: { requeueAfterMs: 601_000 },
    },
    { name: "one second before", ttl: 600, completionTime: at(-599), check: { requeueAfterMs: 2000 } },
    { name: "exactly at the TTL", ttl: 600, completionTime: at(-600), check: { deleteJob: true } },
    { name: "long past it (the operator was down)", ttl: 600, completionTime: at(-86_400), check: { deleteJob: true } },
  ])("$name", ({ ttl, completionTime, check }) => {
    expect(ttlCheck(ttl, completionTime, NOW)).toEqual(check);
  });
});
