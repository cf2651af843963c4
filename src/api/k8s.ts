// Kubernetes' own validation of the values a job passes into its child objects (pods, the volume claim, labels), so
// a job is refused at admission rather than its pods by the apiserver later. Each rule is written once, as a CEL
// expression for the CRD and the same check in TypeScript for zod, and follows the Kubernetes source it names:
//   k8s.io/apimachinery/pkg/util/validation/validation.go       IsDNS1123Subdomain, IsQualifiedName, IsValidLabelValue,
//                                                              IsConfigMapKey
//   k8s.io/apimachinery/pkg/api/resource/quantity.go           ParseQuantity (the CEL isQuantity/quantity library)
//   k8s.io/kubernetes/pkg/apis/core/validation/validation.go   ValidateTolerations, ValidatePodSpec (nodeSelector,
//                                                              priorityClassName), ValidatePersistentVolumeClaimSpec
//                                                              (storageClassName, a positive storage request),
//                                                              validateContainerOnlyForPod (image whitespace)
//   github.com/distribution/reference/regexp.go                the image reference grammar the kubelet parses with
// docs/api.md lists which field follows which rule.
import { z } from "zod";
import { type CrossFieldRule, celValidations, refineWith } from "./rules.ts";

/** A rule on one value; `self` is the value. The apiserver reports it at the value's own field. */
export interface ValueRule<T> {
  cel: string;
  message: string;
  holds: (self: T) => boolean;
  /** A more precise message for zod, which can look at the value (the CRD's message is fixed). */
  explain?: (self: T) => string;
}

/** Adds the rules to a zod schema: checked by zod, and emitted as the field's x-kubernetes-validations. */
export function withRules<S extends z.ZodType>(schema: S, rules: readonly ValueRule<z.output<S>>[]): S {
  return schema
    .superRefine((value, ctx) => {
      for (const rule of rules) {
        if (!rule.holds(value)) ctx.addIssue({ code: "custom", message: rule.explain?.(value) ?? rule.message });
      }
    })
    .meta({
      "x-kubernetes-validations": rules.map((r) => ({ rule: r.cel, message: r.message, reason: "FieldValueInvalid" })),
    }) as S;
}

/** `self.matches(pattern)` in CEL (RE2) and the same anchored pattern in JavaScript. */
function matching(pattern: string, message: string): ValueRule<string> {
  const re = new RegExp(pattern);
  return { cel: `self.matches(${JSON.stringify(pattern)})`, message, holds: (s) => re.test(s) };
}

// ---- names (k8s.io/apimachinery/pkg/util/validation) ----

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN = `^${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`;
// IsQualifiedName: an optional DNS subdomain prefix and '/', then a name of at most 63 characters.
const QUALIFIED_NAME_PART = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?";
const QUALIFIED_NAME = `^(${DNS1123_LABEL}(\\.${DNS1123_LABEL})*/)?${QUALIFIED_NAME_PART}$`;
const LABEL_VALUE = `^(${QUALIFIED_NAME_PART})?$`;
const CONFIG_MAP_KEY = "^[-._a-zA-Z0-9]+$";

/** IsDNS1123Subdomain: names of Secrets, PVCs, StorageClasses, PriorityClasses (at most `max` characters). */
export function dnsSubdomain(max = 253) {
  return withRules(z.string().min(1).max(max), [
    matching(
      DNS1123_SUBDOMAIN,
      "must be a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    ),
  ]);
}

/** IsDNS1123Label: namespace names. */
export function dnsLabel() {
  return withRules(z.string().min(1).max(63), [
    matching(
      `^${DNS1123_LABEL}$`,
      "must be a lowercase RFC 1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
    ),
  ]);
}

/** IsQualifiedName, as label keys and toleration keys are checked; `variable` is the CEL name of the checked string. */
export function qualifiedNameRule(variable: string): ValueRule<string> {
  return {
    cel: `${variable}.matches(${JSON.stringify(QUALIFIED_NAME)}) && (!${variable}.contains('/') || ${variable}.indexOf('/') <= 253)`,
    message:
      "must be a qualified name: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (e.g. example.com/MyName)",
    holds: (s) => new RegExp(QUALIFIED_NAME).test(s) && (!s.includes("/") || s.indexOf("/") <= 253),
  };
}

/** A toleration's key: a qualified name, or empty (with operator Exists: every taint). */
const tolerationKeyRule: ValueRule<string> = (() => {
  const name = qualifiedNameRule("self");
  return { ...name, cel: `self == '' || (${name.cel})`, holds: (s) => s === "" || name.holds(s) };
})();

/** IsValidLabelValue: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit; or empty. */
const labelValueRule = matching(
  LABEL_VALUE,
  "must be a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
);

export function labelValue() {
  return withRules(z.string().max(63), [labelValueRule]);
}

/** IsConfigMapKey, as a secretKeyRef's key is checked. */
export function secretKey() {
  return withRules(z.string().min(1).max(253), [
    matching(CONFIG_MAP_KEY, "must consist of letters, digits, '-', '_' or '.'"),
    {
      cel: "self != '.' && self != '..' && !self.startsWith('..')",
      message: "must not be '.' or '..', nor start with '..'",
      holds: (s) => s !== "." && s !== ".." && !s.startsWith(".."),
    },
  ]);
}

/**
 * ValidateLabels, as a pod's nodeSelector and any object's labels are checked: qualified-name keys, label values. Both
 * are reported at the map (with the key in the message), as the apiserver does for metadata.labels.
 */
export function labelMap(maxEntries = Number.POSITIVE_INFINITY) {
  const key = qualifiedNameRule("k");
  const value = new RegExp(LABEL_VALUE);
  return (
    z
      // maxLength bounds the CEL rules' cost; the value rule below reports a longer value at the map, like the others.
      .record(z.string(), z.string().meta({ maxLength: 63 }))
      .superRefine((labels, ctx) => {
        for (const [k, v] of Object.entries(labels)) {
          if (!key.holds(k)) ctx.addIssue({ code: "custom", message: `key ${JSON.stringify(k)} ${key.message}` });
          if (!value.test(v))
            ctx.addIssue({ code: "custom", message: `value of ${JSON.stringify(k)} ${labelValueRule.message}` });
        }
        if (Object.keys(labels).length > maxEntries)
          ctx.addIssue({ code: "custom", message: `at most ${maxEntries} entries` });
      })
      .meta({
        ...(Number.isFinite(maxEntries) ? { maxProperties: maxEntries } : {}),
        "x-kubernetes-validations": [
          { rule: `self.all(k, ${key.cel})`, message: `every key ${key.message}`, reason: "FieldValueInvalid" },
          {
            rule: `self.all(k, self[k].matches(${JSON.stringify(LABEL_VALUE)}))`,
            message: `every value ${labelValueRule.message}`,
            reason: "FieldValueInvalid",
          },
        ],
      })
  );
}

// ---- quantities (k8s.io/apimachinery/pkg/api/resource) ----

// ParseQuantity's grammar: a signed decimal number, then a binary suffix, a decimal suffix or a decimal exponent.
const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE])|[eE]([+-]?[0-9]+))?$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Whether ParseQuantity accepts the text and the quantity is greater than zero. */
export function isPositiveQuantity(text: string): boolean {
  const m = QUANTITY.exec(text);
  if (!m) return false;
  const [, sign, digits, , , exponent] = m;
  if (exponent !== undefined) {
    const e = BigInt(exponent);
    if (e < INT64_MIN || e > INT64_MAX) return false; // ParseQuantity reads the exponent as an int64
  }
  // Any non-zero digit makes it positive: ParseQuantity rounds values below 1n up, never to zero.
  return sign !== "-" && /[1-9]/.test(digits as string);
}

/**
 * A resource.Quantity as every core API takes it: a string (64Gi, 500m) or an integer (32), greater than zero. The
 * CRD marks it x-kubernetes-int-or-string, as controller-gen does for resource.Quantity; a fraction is written as a
 * string ("0.5") or with a suffix (500m). The value is kept as given; the child objects receive it as a string.
 */
export function positiveQuantity(what: string) {
  const message = `${what} must be a positive Kubernetes quantity: an integer such as 32, or a string such as 64Gi or 500m`;
  return z
    .union([z.int(), z.string()], {
      error: `${message}; a fraction is written as a string ("0.5") or with a suffix (500m): a custom resource stores numbers only as integers`,
    })
    .superRefine((value, ctx) => {
      const ok = typeof value === "number" ? value > 0 : isPositiveQuantity(value);
      if (!ok) ctx.addIssue({ code: "custom", message });
    })
    .meta({
      "x-kubernetes-int-or-string": true,
      "x-kubernetes-validations": [
        {
          rule: `type(self) == int ? self > 0 && self <= ${Number.MAX_SAFE_INTEGER} : isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))`,
          message,
          reason: "FieldValueInvalid",
        },
      ],
    });
}

const DECIMAL_EXPONENT: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_POWER: Record<string, bigint> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };

/** Sizes up to here are exact in a float, which is what the apiserver's CEL can check them with. */
const BYTES_LIMIT = 2n ** 53n;

/**
 * Whether a quantity ParseQuantity accepts is a whole number of bytes below 2^53 (8Pi): 512m is 0.512, 0.5Gi is
 * 536870912. Exact, with no power of ten computed past what can change the answer (1e-99999 is a fraction).
 */
export function isWholeByteSize(text: string): boolean {
  const m = QUANTITY.exec(text);
  if (!m) return false;
  const [, , digits, binary, decimal, exponent] = m;
  const [whole = "", fraction = ""] = (digits as string).split(".");
  // digits = N / 10^places; the value is N * 2^power * 10^(scale - places).
  const n = BigInt(`${whole}${fraction}` || "0") << (binary ? (BINARY_POWER[binary] as bigint) : 0n);
  const scale = decimal ? (DECIMAL_EXPONENT[decimal] as number) : exponent ? Number(exponent) : 0;
  const tens = scale - fraction.length;
  if (n === 0n) return true;
  if (tens >= 0) return tens <= 16 && n * 10n ** BigInt(tens) < BYTES_LIMIT;
  const digitsOfN = n.toString().length;
  if (-tens > digitsOfN) return false; // below one byte, and not zero
  const divisor = 10n ** BigInt(-tens);
  return n % divisor === 0n && n / divisor < BYTES_LIMIT;
}

/**
 * A positive quantity of bytes (a memory or a volume size): as positiveQuantity, and a whole number of bytes. The
 * apiserver takes 512m for memory (0.512 bytes, which the kubelet rounds up to 1), almost always meant as 512Mi.
 */
export function positiveByteQuantity(what: string) {
  const message = `${what} must be a whole number of bytes below 8Pi, e.g. 512Mi or 64Gi (with m, 512m means 0.512 bytes)`;
  const base = positiveQuantity(what);
  return base
    .superRefine((value, ctx) => {
      if (typeof value === "string" && isPositiveQuantity(value) && !isWholeByteSize(value)) {
        ctx.addIssue({ code: "custom", message });
      }
    })
    .meta({
      ...base.meta(),
      "x-kubernetes-validations": [
        ...((base.meta()?.["x-kubernetes-validations"] as object[] | undefined) ?? []),
        {
          // isInteger() refuses whole sizes the parser keeps as fractions (.5Ti, 1500000000m). Below 2^53 a float is
          // within one of the size, so the size is whole when it exactly equals one of the three integers nearest.
          rule:
            "type(self) == int || !isQuantity(self) || " +
            "(quantity(self).asApproximateFloat() < 9007199254740992.0 && [-1, 0, 1].exists(d, " +
            "quantity(self).sub(int(quantity(self).asApproximateFloat() + 0.5) + d).compareTo(quantity('0')) == 0))",
          message,
          reason: "FieldValueInvalid",
        },
      ],
    });
}

/** A quantity as the child objects carry it. */
export function quantityText(value: number | string): string {
  return String(value);
}

// ---- images (validateContainerOnlyForPod; the kubelet parses the rest with github.com/distribution/reference) ----

const ALPHANUMERIC = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[(?:[a-fA-F0-9:]+)\\])`;
const NAME = `(?:${HOST}(?::[0-9]+)?/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const IMAGE_REFERENCE = `^${NAME}(?::${TAG})?(?:@${DIGEST})?$`;
/** reference.NameTotalLengthMax: the name, without tag and digest. */
const IMAGE_NAME_MAX = 255;

// Go's unicode.IsSpace, which strings.TrimSpace (the apiserver) and CEL's trim() use; JavaScript's \s differs (U+FEFF, U+0085).
const GO_SPACE = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const GO_SPACE_AT_ENDS = new RegExp(`^${GO_SPACE}|${GO_SPACE}$`);

/** The part of an image reference before its tag and digest. */
function imageName(ref: string): string {
  const noDigest = ref.split("@")[0] as string;
  const colon = noDigest.lastIndexOf(":");
  return colon > noDigest.lastIndexOf("/") ? noDigest.slice(0, colon) : noDigest;
}

export function imageReference() {
  const name = "self.split('@')[0]";
  return withRules(z.string().min(1).max(1024), [
    {
      cel: "self.trim() == self",
      message: "must not have leading or trailing whitespace",
      holds: (s) => !GO_SPACE_AT_ENDS.test(s),
    },
    matching(
      IMAGE_REFERENCE,
      "must be an image reference such as registry.example.com/team/trainer:v1 (lowercase repository path; optional :tag and @sha256:digest)",
    ),
    {
      cel: `(${name}.lastIndexOf(':') > ${name}.lastIndexOf('/') ? ${name}.substring(0, ${name}.lastIndexOf(':')) : ${name}).size() <= ${IMAGE_NAME_MAX}`,
      message: `the image name (without tag and digest) must be at most ${IMAGE_NAME_MAX} characters`,
      holds: (s) => imageName(s).length <= IMAGE_NAME_MAX,
    },
  ]);
}

// ---- tolerations (ValidateTolerations) ----

interface TolerationFields {
  key?: string | undefined;
  operator?: "Exists" | "Equal" | undefined;
  value?: string | undefined;
  effect?: string | undefined;
  tolerationSeconds?: number | undefined;
}

function tolerationRules(): CrossFieldRule<TolerationFields>[] {
  const exists = (t: TolerationFields) => t.operator === "Exists";
  return [
    {
      cel: "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
      fieldPath: ".operator",
      message: "operator must be Exists when key is empty (which means: tolerate every taint)",
      holds: (t) => (t.key ?? "") !== "" || exists(t),
    },
    {
      cel: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
      fieldPath: ".effect",
      message: "effect must be NoExecute when tolerationSeconds is set",
      holds: (t) => t.tolerationSeconds === undefined || t.effect === "NoExecute",
    },
    {
      cel: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
      fieldPath: ".value",
      message: "value must be empty when operator is Exists",
      holds: (t) => !exists(t) || (t.value ?? "") === "",
    },
  ];
}

export const Toleration = z
  .strictObject({
    key: withRules(z.string().max(316), [tolerationKeyRule])
      .optional()
      .describe("Taint key; empty with operator Exists tolerates every taint."),
    operator: z.enum(["Exists", "Equal"]).optional().describe("Equal (the default) or Exists."),
    value: withRules(z.string().max(63), [labelValueRule])
      .optional()
      .describe("Taint value for Equal; must be empty for Exists."),
    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional().describe("Empty matches every effect."),
    tolerationSeconds: z
      .int()
      .meta({ format: "int64" })
      .optional()
      .describe("Only with effect NoExecute: how long the pod stays bound after the taint appears."),
  })
  .superRefine(refineWith(tolerationRules()))
  .meta({ "x-kubernetes-validations": celValidations(tolerationRules()) });
