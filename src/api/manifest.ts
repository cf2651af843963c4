// Manifests read the way `kubectl apply -f` reads them, so `collab-operator render` and the apiserver see the same
// object. kubectl turns YAML into JSON with sigs.k8s.io/yaml, whose YAML is go-yaml v2's: YAML 1.1 scalars (yes/no/on/
// off and y/n are booleans, 0x1F and 010 are integers, 1_000 is 1000), later duplicate keys silently replacing earlier
// ones, merge keys (<<), timestamps kept as strings, and .inf/.nan refused because JSON cannot hold them. The
// apiserver then drops null fields of objects (a block whose lines were all commented out leaves `rl:` null, which
// counts as absent). Pure: text in, plain JSON values out.
import { isScalar, parseAllDocuments, type Scalar, type ScalarTag, Schema, type ToJSOptions, visit } from "yaml";

export type Manifests = { ok: true; documents: unknown[]; warnings: string[] } | { ok: false; errors: string[] };

// go-yaml v2's resolve table (sigs.k8s.io/yaml/goyaml.v2/resolve.go).
const NULL = /^(?:~|null|Null|NULL|)$/;
const TRUE = /^(?:y|Y|yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const FALSE = /^(?:n|N|no|No|NO|false|False|FALSE|off|Off|OFF)$/;
const NON_FINITE = /^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
// What strconv.ParseInt(s, 0, 64) and ParseUint accept, once underscores are removed.
const GO_INT = /^([-+]?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)$/;
// go-yaml's yamlStyleFloat, tried when the integer parse fails.
const YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const DOT_FLOAT = /^\.[0-9]+([eE][-+]?[0-9]+)?$/;

/** Marks a plain scalar whose value JSON cannot carry. */
class NonFinite {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

function goInteger(plain: string): number | undefined {
  const m = GO_INT.exec(plain);
  if (!m) return undefined;
  const [, sign, body] = m as unknown as [string, string, string];
  const digits = /^0[0-7]+$/.test(body) ? `0o${body.slice(1)}` : body; // a leading 0 means octal in Go
  const value = BigInt(digits) * (sign === "-" ? -1n : 1n);
  const fits = sign === "" ? value <= 2n ** 64n - 1n : value >= -(2n ** 63n) && value <= 2n ** 63n - 1n;
  return fits ? Number(value) : undefined;
}

/** A plain scalar starting with a digit, a sign or a dot, resolved as go-yaml v2 resolves it. */
function goNumber(text: string): number | string | NonFinite {
  if (NON_FINITE.test(text)) return new NonFinite(text);
  if (text.startsWith(".")) return DOT_FLOAT.test(text) ? Number(text) : text;
  const plain = text.replaceAll("_", "");
  const integer = goInteger(plain);
  if (integer !== undefined) return integer;
  if (YAML_FLOAT.test(plain)) {
    const float = Number(plain);
    return Number.isFinite(float) ? float : text; // out of float64's range: ParseFloat fails, the text stays a string
  }
  return text;
}

function scalarTag(tag: string, test: RegExp, resolve: (text: string) => unknown): ScalarTag {
  return { tag: `tag:yaml.org,2002:${tag}`, default: true, test, resolve, identify: () => false };
}

const KUBECTL_TAGS: ScalarTag[] = [
  scalarTag("null", NULL, () => null),
  scalarTag("bool", TRUE, () => true),
  scalarTag("bool", FALSE, () => false),
  scalarTag("float", NON_FINITE, (text) => new NonFinite(text)),
  // Every plain scalar that may be a number; goNumber leaves the others strings, as go-yaml does.
  scalarTag("int", /^[-+0-9.]/, goNumber),
];
const FAILSAFE = new Schema({ schema: "failsafe" }).tags;
const OPTIONS = {
  version: "1.1",
  merge: true,
  uniqueKeys: false,
  customTags: () => [...FAILSAFE, ...KUBECTL_TAGS],
} as const;
const TO_JS: ToJSOptions = { maxAliasCount: 100 };

/** The documents of a manifest file as kubectl would send them, and warnings about what it silently resolved. */
export function readManifests(text: string): Manifests {
  const docs = parseAllDocuments(text, OPTIONS);
  const all = Array.isArray(docs) ? docs : [docs];
  const errors = all.flatMap((d) => d.errors.map((e) => `YAML: ${e.message}`));
  if (errors.length > 0) return { ok: false, errors };
  const warnings: string[] = [];
  const documents: unknown[] = [];
  for (const doc of all) {
    warnings.push(...duplicateKeys(doc.contents));
    let value: unknown;
    try {
      value = toJSON(doc.toJS(TO_JS), "");
    } catch (error) {
      return { ok: false, errors: [(error as Error).message] };
    }
    if (value === null || value === undefined) continue; // kubectl skips empty documents
    // kubectl applies the items of a List one by one.
    const list = value as { kind?: unknown; items?: unknown };
    if (list.kind === "List" && Array.isArray(list.items)) documents.push(...list.items);
    else documents.push(value);
  }
  return { ok: true, documents, warnings };
}

/** Plain JSON values, as sigs.k8s.io/yaml's YAMLToJSON makes them; throws where it fails. */
function toJSON(value: unknown, path: string): unknown {
  if (value instanceof NonFinite) {
    throw new Error(
      `YAML: ${path || "(root)"}: ${value.text} has no JSON form (kubectl refuses it too); quote it if you mean the string`,
    );
  }
  if (Array.isArray(value)) return value.map((v, i) => toJSON(v, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJSON(v, path ? `${path}.${k}` : k)]));
  }
  return value;
}

/** Keys given twice in one mapping: kubectl keeps the last silently; render says so. */
function duplicateKeys(contents: unknown): string[] {
  const warnings: string[] = [];
  visit(contents as Parameters<typeof visit>[0], {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String((pair.key as Scalar).value) : String(pair.key);
        if (seen.has(key))
          warnings.push(
            `YAML: key ${JSON.stringify(key)} appears twice in one mapping; the last value wins (as with kubectl)`,
          );
        seen.add(key);
      }
    },
  });
  return warnings;
}

/**
 * A manifest's object as the apiserver takes it on create or apply: null fields of objects are dropped (their
 * defaults apply); null list items stay (and are refused).
 */
export function asSubmitted(object: unknown): unknown {
  return dropNullFields(object);
}

function dropNullFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === null ? v : dropNullFields(v)));
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, dropNullFields(v)]),
  );
}
