// `collab-operator crd`: prints the generated CustomResourceDefinition as YAML (the same text as crds/).
import { crdYAML } from "../api/crd.ts";
import { command } from "./prologue.ts";

export const main = command<undefined>({
  name: "crd",
  help: () => "usage: collab-operator crd\n\nPrints the CollabTrainingJob CustomResourceDefinition as YAML.",
  parse: () => undefined,
  run: async () => {
    process.stdout.write(crdYAML());
    return 0;
  },
});
