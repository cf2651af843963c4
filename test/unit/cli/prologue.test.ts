// The prologue every command shares: --help, then flags read and checked, a mistake said with the usage and exit 2.
import { afterEach, describe, expect, it, vi } from "vitest";
import { command } from "../../../src/cli/prologue.ts";

const written = { stdout: "", stderr: "" };
afterEach(() => {
  vi.restoreAllMocks();
  written.stdout = "";
  written.stderr = "";
});

function capture() {
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    written.stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    written.stderr += String(chunk);
    return true;
  });
}

const ran: string[] = [];
const example = command<string>({
  name: "example",
  help: () => "usage: collab-operator example --name <v>",
  parse: (argv) => {
    const name = argv[argv.indexOf("--name") + 1];
    if (!argv.includes("--name") || name === undefined) throw new Error("--name is required");
    return name;
  },
  run: async (name) => {
    ran.push(name);
    return name === "fail" ? 1 : 0;
  },
});

describe("command", () => {
  it("prints its help on --help or -h and runs nothing", async () => {
    capture();
    expect(await example(["--help"])).toBe(0);
    expect(await example(["--name", "x", "-h"])).toBe(0);
    expect(written.stdout).toBe("usage: collab-operator example --name <v>\n".repeat(2));
    expect(ran).toEqual([]);
  });

  it("says what is wrong with the flags, with its usage, and exits 2 before running", async () => {
    capture();
    expect(await example([])).toBe(2);
    expect(written.stderr).toBe(
      "collab-operator example: --name is required\n\nusage: collab-operator example --name <v>\n",
    );
    expect(ran).toEqual([]);
  });

  it("runs with what the flags said and exits with the run's code", async () => {
    expect(await example(["--name", "ok"])).toBe(0);
    expect(await example(["--name", "fail"])).toBe(1);
    expect(ran).toEqual(["ok", "fail"]);
  });
});
