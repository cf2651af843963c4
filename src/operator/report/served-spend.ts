// What the served roles' servers have cost so far: the GPU-hours status.serving accounts (plan/serving.ts), brought up
// to now, at the price per GPU-hour of the role whose spec defines the server (a server shared by both roles is the
// judge's). Pure: the report endpoint adds it to status.usage with each report, and the allowance book to the spend
// the cost budget is measured against.
import type { Spec, Status } from "../../api/schema.ts";
import type { EndpointRole } from "../../contract/gateway-settings.ts";
import { gpuHoursAt } from "../plan/serving.ts";

/** Each served role's GPU-hours, and their cost where its pricing has perGpuHour. */
export type ServedSpend = Partial<Record<EndpointRole, { gpuHours: number; cost?: number }>>;

/** The served spend is brought up to the minute: with a report every few seconds, status.usage changes once a minute. */
const GRANULARITY_MS = 60_000;

export function servedSpend(
  spec: Pick<Spec, "userSimulator" | "judge">,
  serving: Status["serving"],
  now: Date,
): ServedSpend {
  const at = new Date(Math.floor(now.getTime() / GRANULARITY_MS) * GRANULARITY_MS).toISOString();
  const spend: ServedSpend = {};
  for (const server of serving ?? []) {
    const owner: EndpointRole = server.roles[0] === "userSimulator" ? "user-simulator" : "judge";
    const price = (owner === "judge" ? spec.judge : spec.userSimulator).pricing?.perGpuHour;
    const accounted = server.accountedAt && Date.parse(server.accountedAt) > Date.parse(at) ? server.accountedAt : at;
    const gpuHours = (spend[owner]?.gpuHours ?? 0) + gpuHoursAt(server, accounted);
    spend[owner] = { gpuHours, ...(price !== undefined ? { cost: gpuHours * price } : {}) };
  }
  return spend;
}
