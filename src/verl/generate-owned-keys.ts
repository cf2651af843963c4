// `npm run crd` runs this first: writes the owned-key patterns the API validates overrides with
// (src/api/owned-override-patterns.json), derived from the renderer so they can never drift from what it owns.
import { writeFileSync } from "node:fs";
import { ownedOverridePatterns } from "./check.ts";

export const OWNED_PATTERNS_FILE = new URL("../api/owned-override-patterns.json", import.meta.url);

export function ownedPatternsJSON(): string {
  return `${JSON.stringify(ownedOverridePatterns(), null, 2)}\n`;
}

if (import.meta.main) writeFileSync(OWNED_PATTERNS_FILE, ownedPatternsJSON());
