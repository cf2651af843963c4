// Read-your-writes over the informer cache: a reconcile must not act on a job older than its own last status write.
import { describe, expect, it } from "vitest";
import { fresher } from "../../../src/operator/reconciler.ts";

const job = (resourceVersion: string, uid = "u-1") => ({ metadata: { name: "job", uid, resourceVersion } });

describe("fresher", () => {
  it("prefers our last write while the cache lags behind it", () => {
    const written = job("120");
    expect(fresher(job("117"), written)).toBe(written);
  });

  it("prefers the cache once it has caught up or moved on (say, a spec edit)", () => {
    const cached = job("130");
    expect(fresher(cached, job("120"))).toBe(cached);
    const same = job("120");
    expect(fresher(same, job("120"))).toBe(same);
  });

  it("trusts the cache when the job is gone, was re-created, or versions are not integers", () => {
    expect(fresher(undefined, job("120"))).toBeUndefined();
    const recreated = job("5", "u-2");
    expect(fresher(recreated, job("120"))).toBe(recreated);
    const opaque = job("abc");
    expect(fresher(opaque, job("120"))).toBe(opaque);
    expect(fresher(job("1"), undefined)).toEqual(job("1"));
  });
});
