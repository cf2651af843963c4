// Following a log file that appears late, grows in pieces, is truncated and is replaced.
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LogFollower } from "../../../src/gateway/log-follower.ts";

const dir = mkdtempSync(join(tmpdir(), "follow-"));
afterEach(() => rmSync(join(dir, "trainer.log"), { force: true }));

function follow() {
  const lines: string[] = [];
  return { lines, follower: new LogFollower(join(dir, "trainer.log"), (line) => lines.push(line)) };
}

describe("LogFollower", () => {
  it("waits for the file, then hands out complete lines only", async () => {
    const { lines, follower } = follow();
    await follower.poll();
    const path = join(dir, "trainer.log");
    writeFileSync(path, "step:1 - a:1\nstep:2 - a:");
    await follower.poll();
    expect(lines).toEqual(["step:1 - a:1"]);
    appendFileSync(path, "2\r\n");
    await follower.poll();
    expect(lines).toEqual(["step:1 - a:1", "step:2 - a:2"]);
  });

  it("joins a UTF-8 character split between two writes", async () => {
    const { lines, follower } = follow();
    const path = join(dir, "trainer.log");
    const text = Buffer.from("User: café\n");
    writeFileSync(path, text.subarray(0, 10));
    await follower.poll();
    appendFileSync(path, text.subarray(10));
    await follower.poll();
    expect(lines).toEqual(["User: café"]);
  });

  it("starts again from the top when the file is truncated or replaced", async () => {
    const { lines, follower } = follow();
    const path = join(dir, "trainer.log");
    writeFileSync(path, "first run line one\nfirst run line two\n");
    await follower.poll();
    writeFileSync(path, "second\n"); // truncated by a restarted tee
    await follower.poll();
    writeFileSync(`${path}.new`, "third\n");
    renameSync(`${path}.new`, path); // replaced: a new inode
    await follower.poll();
    writeFileSync(path, "fourth run, which grew past the old offset before the next poll\n");
    await follower.poll();
    expect(lines).toEqual([
      "first run line one",
      "first run line two",
      "second",
      "third",
      "fourth run, which grew past the old offset before the next poll",
    ]);
  });
});
