// Cross-field rules, each written once: a CEL expression for the apiserver (x-kubernetes-validations) and the same
// check as a TypeScript predicate for zod, so admission and the operator can never disagree about what is valid.
// The numbers come from veRL v0.6.0's own asserts (docs/api.md lists the source line of each).

/** A rule the apiserver evaluates with `self` bound to the object it is attached to. */
export interface CrossFieldRule<T> {
  /** CEL, evaluated by the apiserver. */
  cel: string;
  /** Field the error is reported on, relative to the object the rule is attached to (e.g. `.rl.batchSize`). */
  fieldPath: string;
  message: string;
  /** The same rule in TypeScript; `true` means valid. */
  holds: (self: T) => boolean;
}

/** The x-kubernetes-validations entries for a list of rules. */
export function celValidations<T>(rules: readonly CrossFieldRule<T>[]) {
  return rules.map((r) => ({ rule: r.cel, message: r.message, fieldPath: r.fieldPath, reason: "FieldValueInvalid" }));
}

/** A zod superRefine callback that reports every broken rule at its field. */
export function refineWith<T>(rules: readonly CrossFieldRule<T>[]) {
  return (
    value: T,
    ctx: { addIssue: (issue: { code: "custom"; path: (string | number)[]; message: string }) => void },
  ) => {
    for (const rule of rules) {
      if (!rule.holds(value))
        ctx.addIssue({ code: "custom", path: fieldPathSegments(rule.fieldPath), message: rule.message });
    }
  };
}

/** `.rl.batchSize` -> ["rl", "batchSize"]; `.metadata.name` -> ["metadata", "name"]. */
export function fieldPathSegments(fieldPath: string): string[] {
  return fieldPath.split(".").filter((s) => s.length > 0);
}

/** A rule that forbids changing a field after creation (a transition rule, so it only runs on update). */
export function immutable<T>(field: string & keyof T, why: string): CrossFieldRule<T> & { transition: true } {
  return {
    cel: `self.${field} == oldSelf.${field}`,
    fieldPath: `.${field}`,
    message: `${field} is immutable: ${why}`,
    holds: () => true, // needs the old object; the apiserver enforces it
    transition: true,
  };
}
