// Leader-election decisions, pure: given the Lease as just read, what this candidate observed before, the local time
// and its identity, say whether to create, take, renew or wait. As in client-go, expiry is judged by when *this*
// process first saw the current lease version (its resourceVersion), never by the holder's renewTime, so clock skew
// between machines cannot make a live lease look expired. Writes carry the read resourceVersion, so when two
// candidates decide "take" at once the apiserver lets exactly one succeed.

export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** Times in epoch milliseconds. */
  acquireTime?: number;
  renewTime?: number;
  leaseTransitions?: number;
}

export interface LeaseView {
  record: LeaseRecord;
  resourceVersion: string;
}

/** The lease version last seen and the local time it was first seen. */
export interface Observation {
  resourceVersion: string;
  at: number;
}

export type Decision =
  | { action: "create" }
  | { action: "take" }
  | { action: "renew" }
  | { action: "wait"; holder: string; expiresInMs: number };

export function decide(
  lease: LeaseView | undefined,
  observed: Observation | undefined,
  now: number,
  identity: string,
): { decision: Decision; observed: Observation | undefined } {
  if (!lease) return { decision: { action: "create" }, observed: undefined };
  const seen =
    observed?.resourceVersion === lease.resourceVersion
      ? observed
      : { resourceVersion: lease.resourceVersion, at: now };
  const holder = lease.record.holderIdentity ?? "";
  if (holder === identity) return { decision: { action: "renew" }, observed: seen };
  if (holder === "") return { decision: { action: "take" }, observed: seen }; // released
  const expiresAt = seen.at + (lease.record.leaseDurationSeconds ?? 0) * 1000;
  if (now >= expiresAt) return { decision: { action: "take" }, observed: seen };
  return { decision: { action: "wait", holder, expiresInMs: expiresAt - now }, observed: seen };
}

/** The record to write for a create, take or renew. */
export function nextRecord(
  current: LeaseRecord | undefined,
  action: "create" | "take" | "renew",
  identity: string,
  now: number,
  leaseDurationMs: number,
): LeaseRecord {
  const leaseDurationSeconds = Math.max(1, Math.ceil(leaseDurationMs / 1000));
  if (action === "renew") return { ...current, holderIdentity: identity, leaseDurationSeconds, renewTime: now };
  const changedHands = current !== undefined && current.holderIdentity !== identity;
  return {
    holderIdentity: identity,
    leaseDurationSeconds,
    acquireTime: now,
    renewTime: now,
    leaseTransitions: (current?.leaseTransitions ?? 0) + (changedHands ? 1 : 0),
  };
}

/** What a leader writes when it steps down: no holder, so a standby takes over on its next try. */
export function releasedRecord(current: LeaseRecord, now: number): LeaseRecord {
  return { ...current, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: now };
}

/** A leader that has not renewed for `renewDeadlineMs` must stop acting as leader before others may take over. */
export function mustStepDown(lastRenewedAt: number, now: number, renewDeadlineMs: number): boolean {
  return now - lastRenewedAt >= renewDeadlineMs;
}
