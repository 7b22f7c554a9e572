// The days a usage report covers, from `?from=&to=` (UTC days, YYYY-MM-DD):
// by default the last 30 days up to today. Shared by the tenant and channel
// usage routes.
import { z } from "zod";
import { gatewayError } from "../errors.js";
import { utcDay } from "../generation/record.js";
import { isUtcDay, parseBody } from "../validation.js";

const utcDayParam = z.string().refine(isUtcDay, "a UTC day, YYYY-MM-DD");
/** `?from=&to=`; exported for the OpenAPI document. */
export const usageQuerySchema = z.object({
  from: utcDayParam.optional(),
  to: utcDayParam.optional(),
});

export function usageRange(query: unknown, now: number): { from: string; to: string } {
  const given = parseBody(usageQuerySchema, query ?? {});
  const to = given.to ?? utcDay(now);
  const from = given.from ?? utcDay(now - 29 * 86_400_000);
  if (from > to) {
    throw gatewayError("invalid_value", { detail: "from is after to." }, { param: "from" });
  }
  return { from, to };
}
