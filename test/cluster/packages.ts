// Debian's packages the real node and the image builds need (realnode.ts, images.ts), installed with apt when
// missing: CI starts from a fresh machine, and these are the project's own steps, not a setup done by hand.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { log } from "./cluster.ts";

/** A file each package installs, by package. */
const PACKAGES: Record<string, string> = {
  "/usr/bin/containerd": "containerd",
  "/usr/sbin/runc": "runc",
  "/usr/lib/cni/bridge": "containernetworking-plugins",
  "/usr/sbin/iptables": "iptables",
  "/usr/sbin/conntrack": "conntrack",
  "/usr/sbin/debootstrap": "debootstrap",
  "/usr/bin/gcc": "gcc",
};

export function ensurePackages(): void {
  const missing = Object.entries(PACKAGES)
    .filter(([path]) => !existsSync(path))
    .map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  log(`installing Debian packages: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  // Several clusters' tests may ask at once: apt waits for the other's lock rather than failing.
  const wait = ["-o", "DPkg::Lock::Timeout=600"];
  const install = () =>
    execFileSync("apt-get", [...wait, "install", "-y", "--no-install-recommends", ...missing], {
      env,
      stdio: "ignore",
    });
  try {
    install();
  } catch {
    execFileSync("apt-get", [...wait, "update"], { env, stdio: "ignore" });
    install();
  }
}
