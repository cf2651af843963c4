// The veRL versions the operator renders for. Supporting another is one new module beside v0_6_0/ and one line here;
// the schema's VERL_VERSIONS makes this table fail to type-check until it has every version.
import type { Spec } from "../api/schema.ts";
import type { VerlRuntime } from "./runtime.ts";
import { v0_6_0 } from "./v0_6_0/index.ts";

const RUNTIMES: Record<Spec["runtime"]["verl"], VerlRuntime> = { "0.6.0": v0_6_0 };

export function runtimeFor(spec: Spec): VerlRuntime {
  return RUNTIMES[spec.runtime.verl];
}
