// The rendered launch scripts: valid bash, the contracts the pod builders and the gateway rely on, and no secrets.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { renderConfigFiles } from "../../../src/verl/files.ts";
import { CONFIG_FILES, launchCommand, outputs, PATHS, TRAINER_LOG } from "../../../src/verl/layout.ts";
import { cases, exampleCase } from "./cases.ts";

describe("launch scripts", () => {
  for (const c of cases()) {
    it(`${c.name}: every script parses with bash -n`, () => {
      for (const [name, text] of Object.entries(renderConfigFiles(c.job.spec, c.ctx))) {
        if (!name.endsWith(".sh")) continue;
        const r = spawnSync("bash", ["-n"], { input: text, encoding: "utf8" });
        expect(r.stderr, name).toBe("");
        expect(r.status, name).toBe(0);
      }
    });

    it(`${c.name}: no API key in any rendered file`, () => {
      const all = Object.values(renderConfigFiles(c.job.spec, c.ctx)).join("\n");
      expect(all).not.toMatch(/api_key|sk-[A-Za-z0-9]{8}|WANDB_API_KEY=|OPENAI_API_KEY=/);
    });
  }

  const { job, ctx } = exampleCase("math-hard");
  const files = renderConfigFiles(job.spec, ctx);
  const head = files[CONFIG_FILES.rlHead]!;

  it("runs main_ppo with pipefail and its output tee'd to the gateway's log, by a tee that outlives a stop signal", () => {
    expect(head).toContain("set -euo pipefail");
    expect(head).toMatch(
      /\{ trap '' TERM INT; \(trap - TERM INT; exec python3 \\\n {4}-m verl\.trainer\.main_ppo[\s\S]*\) \\\n {4}2>&1 \| \(exec tee -a \/var\/run\/collab\/trainer\.log "[^"]+"\); \} &\n {2}wait \$!\n/,
    );
    expect(TRAINER_LOG).toBe("/var/run/collab/trainer.log");
  });

  it("passes the kubelet's SIGTERM on to the whole stage: a trap in every script, every long step waited for", () => {
    for (const [name, text] of Object.entries(files)) {
      if (!name.endsWith(".sh")) continue;
      expect(text, name).toContain("trap stop_stage TERM INT");
      expect(text, name).toContain(
        "stop_stage() { trap '' TERM INT; kill -TERM 0 2>/dev/null || true; wait; exit 143; }",
      );
      // No command replaces the script (exec): it must stay to pass the signal on.
      expect(text, name).not.toMatch(/^\s*exec /m);
      // Every python3 or ray start that runs for long is backgrounded and waited for.
      const lines = text.split("\n");
      lines.forEach((line, i) => {
        if (!/^\s*(\{ .*exec )?python3|ray start --address/.test(line)) return;
        const rest = lines.slice(i).join("\n");
        const heredoc = /<<'(\w+)' &$/.exec(line);
        if (heredoc) expect(rest, `${name}: ${line}`).toMatch(new RegExp(`\\n${heredoc[1]}\\nwait \\$!\\n`));
        else expect(rest, `${name}: ${line}`).toMatch(/^[^\n]*(?:\\\n[^\n]*)*&\n\s*wait \$!/);
      });
    }
  });

  it("merges the last RL checkpoint into the documented model directory", () => {
    expect(head).toContain(`--local_dir "/collab/checkpoints/rl/global_step_$\{step}/actor"`);
    expect(head).toContain('mv -T "$partial" /collab/models/final');
    expect(outputs(job.spec)).toEqual({ checkpointDir: "/collab/checkpoints/rl", modelDir: "/collab/models/final" });
  });

  it("starts RL from the SFT model and exports the SFT model for it", () => {
    expect(head).toContain(`actor_rollout_ref.model.path=${PATHS.sftModel}`);
    expect(files[CONFIG_FILES.sft]).toContain("--nproc_per_node=8");
    expect(files[CONFIG_FILES.sft]).toContain(`mv -T "$partial" ${PATHS.sftModel}`);
  });

  it("has no SFT script when SFT is off, and prepares only rl data", () => {
    const two = exampleCase("two-node");
    const f = renderConfigFiles(two.job.spec, two.ctx);
    expect(f[CONFIG_FILES.sft]).toBeUndefined();
    expect(f[CONFIG_FILES.prepare]).toContain("--dataset_type rl");
    expect(f[CONFIG_FILES.prepare]).not.toContain("--dataset_type sft");
    expect(f[CONFIG_FILES.rlHead]).toContain("python3 - 2 8 1800 <<'PY' &");
    expect(f[CONFIG_FILES.rlWorker]).toContain(
      `ray start --address="$\{head}:6379" --block --disable-usage-stats &\nwait $!`,
    );
  });

  it("maps each stage to its script in the ConfigMap", () => {
    expect(launchCommand("prepare")).toEqual(["bash", "/etc/collab/prepare.sh"]);
    expect(launchCommand("sft")).toEqual(["bash", "/etc/collab/sft.sh"]);
    expect(launchCommand("rl-head")).toEqual(["bash", "/etc/collab/train-head.sh"]);
    expect(launchCommand("rl-worker")).toEqual(["bash", "/etc/collab/train-worker.sh"]);
  });

  /**
   * Runs the rendered prepare script with bash, every command it runs stubbed by a shell function, and returns the
   * arguments process_dataset.py received.
   */
  function taskDescriptionReceived(taskDescription: string): string {
    const spec = { ...job.spec, dataset: { ...job.spec.dataset, taskDescription } };
    const script = renderConfigFiles(spec, ctx)[CONFIG_FILES.prepare]!;
    const dir = mkdtempSync(join(tmpdir(), "prepare-"));
    writeFileSync(join(dir, "prepare.sh"), script);
    const stubs = [
      // Each python3 call appends its arguments, NUL-terminated, then a record separator.
      `python3() { printf '%s\\0' "$@" >> ${dir}/argv; printf '\\036' >> ${dir}/argv; }`,
      "cd() { :; }; mkdir() { :; }; mv() { :; }; rm() { :; }",
      `source ${dir}/prepare.sh`,
    ].join("\n");
    const run = spawnSync("bash", ["-c", stubs], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    const calls = readFileSync(join(dir, "argv"), "utf8").split("\u001e");
    const dataset = calls.find((c) => c.includes("--task_desc"))!.split("\0");
    return dataset[dataset.indexOf("--task_desc") + 1]!;
  }

  it("passes the task description to process_dataset.py byte for byte, newlines included", () => {
    for (const text of [
      "solving math problems",
      "line one\nline two\n  indented three\n",
      "tabs\tand\r\nCRLF, 'quotes', \"double\", back\\slash, $HOME, $(whoami), `id`, !event",
      "unicode: ÄÖÜ → 数学 🧮\n\n\nend",
    ]) {
      expect(taskDescriptionReceived(text)).toBe(text);
    }
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", minLength: 1, maxLength: 60 }).map((s) => s.replaceAll("\0", "")),
        (text) => {
          fc.pre(text.length > 0);
          expect(taskDescriptionReceived(text)).toBe(text);
        },
      ),
      { numRuns: 40 },
    );
  }, 30_000); // 44 bash processes: seconds on a busy 2-core machine

  describe("pass_rate without bigcodebench", () => {
    const bcb = exampleCase("bigcodebench");
    const script = renderConfigFiles(bcb.job.spec, bcb.ctx)[CONFIG_FILES.prepare]!;
    /** Runs the prepare script with python3 stubbed: `import bigcodebench` works or not. */
    const prepare = (hasBigcodebench: boolean) =>
      spawnSync(
        "bash",
        [
          "-c",
          [
            `python3() { [[ "$*" == *"import bigcodebench"* ]] && return ${hasBigcodebench ? 0 : 1}; echo "ran python3 $1" >&2; }`,
            "tee() { cat; }; cd() { :; }; mkdir() { :; }; mv() { :; }; rm() { :; }",
            script,
          ].join("\n"),
        ],
        { encoding: "utf8" },
      );

    it("stops the prepare pod, before any GPU pod, saying what to do", () => {
      const r = prepare(false);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("spec.reward.metrics has pass_rate, which needs the bigcodebench package");
      expect(r.stderr).not.toContain("ran python3");
      expect(script).toContain("tee /dev/termination-log");
    });

    it("goes on when the image has it", () => {
      const r = prepare(true);
      expect(r.status).toBe(0);
      expect(r.stderr).toContain("ran python3 recipe/collabllm/process_dataset.py");
    });

    it("is not checked for jobs without pass_rate", () => {
      expect(files[CONFIG_FILES.prepare]).not.toContain("bigcodebench");
    });
  });
});
