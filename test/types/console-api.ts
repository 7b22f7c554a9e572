// The console's view of the admin API (web/src/api-types.ts) held to the
// gateway's own response schemas, at compile time: `npm run typecheck` fails
// when an answer has a field or a value the console does not expect (a breaker
// state spelt another way once broke its health page). Not a vitest file:
// there is nothing to run, only types to check.
import type { z } from "zod";
import type { channelViewSchema } from "../../src/channels/settings.js";
import type {
  gatewayStatusSchema,
  generationListSchema,
  issuedKeySchema,
  keyViewSchema,
  tenantUsageSchema,
  tenantViewSchema,
  tenantWithKeysSchema,
} from "../../src/http/openapi-schemas.js";
import type * as Console from "../../web/src/api-types.js";

/** `true` only when every answer the gateway may give is one the console reads. */
type Reads<Answer, Read> = [Answer] extends [Read] ? true : false;
type Answer<Schema extends z.ZodType> = z.output<Schema>;

export const consoleReadsTheAdminApi: {
  status: Reads<Answer<typeof gatewayStatusSchema>, Console.Status>;
  generations: Reads<Answer<typeof generationListSchema>, Console.List<Console.Generation>>;
  channel: Reads<Answer<typeof channelViewSchema>, Console.Channel>;
  tenant: Reads<Answer<typeof tenantViewSchema>, Console.Tenant>;
  tenantWithKeys: Reads<Answer<typeof tenantWithKeysSchema>, Console.TenantWithKeys>;
  key: Reads<Answer<typeof keyViewSchema>, Console.ApiKey>;
  issuedKey: Reads<Answer<typeof issuedKeySchema>, Console.IssuedKey>;
  usage: Reads<Answer<typeof tenantUsageSchema>, Console.UsageReport>;
} = {
  status: true,
  generations: true,
  channel: true,
  tenant: true,
  tenantWithKeys: true,
  key: true,
  issuedKey: true,
  usage: true,
};
