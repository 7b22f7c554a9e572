// Upload bytes in flight: a process cap (503 server_busy) of which one tenant
// may hold a share (429 upload_limit_exceeded), both answered with retry-after.
import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors.js";
import { createUploadBudget, type UploadBudget } from "../../src/tenancy/upload-budget.js";

/** The error `reserve` throws, or a failure when it admits the request. */
async function refusal(
  budget: UploadBudget,
  tenantId: string,
  bytes: number,
): Promise<GatewayError> {
  try {
    await budget.reserve(tenantId, bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return err as GatewayError;
  }
  throw new Error(`reserve(${tenantId}, ${bytes}) was admitted`);
}

function expectTenantShareRefusal(err: GatewayError): void {
  expect(err.status).toBe(429);
  expect(err.type).toBe("rate_limit_error");
  expect(err.code).toBe("upload_limit_exceeded");
  expect(err.headers).toEqual({ "retry-after": "2" });
}

function expectServerBusy(err: GatewayError): void {
  expect(err.status).toBe(503);
  expect(err.type).toBe("server_error");
  expect(err.code).toBe("server_busy");
  expect(err.headers).toEqual({ "retry-after": "2" });
}

describe("upload budget", () => {
  it("counts what is reserved and gives it back on release", async () => {
    const budget = createUploadBudget({ totalBytes: 1000 });
    expect(budget.inFlight()).toBe(0);
    const first = await budget.reserve("a", 100);
    const second = await budget.reserve("b", 250);
    const third = await budget.reserve("a", 50);
    expect(budget.inFlight()).toBe(400);
    second();
    expect(budget.inFlight()).toBe(150);
    first();
    third();
    expect(budget.inFlight()).toBe(0);
  });

  it("holds one tenant to half the total by default: 429 with retry-after", async () => {
    const budget = createUploadBudget({ totalBytes: 101 });
    await budget.reserve("a", 30);
    await budget.reserve("a", 20);
    expect(budget.inFlight()).toBe(50);
    expectTenantShareRefusal(await refusal(budget, "a", 1));
    // A refused request holds nothing.
    expect(budget.inFlight()).toBe(50);
  });

  it("takes an explicit per-tenant share", async () => {
    const budget = createUploadBudget({ totalBytes: 1000, perTenantBytes: 300 });
    await budget.reserve("a", 200);
    await budget.reserve("a", 100);
    expectTenantShareRefusal(await refusal(budget, "a", 1));
    expect(budget.inFlight()).toBe(300);
  });

  it("lets the tenant in again once one of its uploads is released", async () => {
    const budget = createUploadBudget({ totalBytes: 100 });
    const release = await budget.reserve("a", 40);
    await budget.reserve("a", 10);
    expectTenantShareRefusal(await refusal(budget, "a", 41));
    release();
    await budget.reserve("a", 40);
    expect(budget.inFlight()).toBe(50);
    expectTenantShareRefusal(await refusal(budget, "a", 1));
  });

  it("does not hold other tenants to one tenant's share", async () => {
    const budget = createUploadBudget({ totalBytes: 100 });
    await budget.reserve("a", 50);
    expectTenantShareRefusal(await refusal(budget, "a", 1));
    await budget.reserve("b", 30);
    await budget.reserve("b", 20);
    expect(budget.inFlight()).toBe(100);
  });

  it("refuses past the process cap with 503 server_busy and retry-after", async () => {
    const budget = createUploadBudget({ totalBytes: 100, perTenantBytes: 100 });
    await budget.reserve("a", 60);
    await budget.reserve("b", 40);
    expectServerBusy(await refusal(budget, "c", 1));
    expect(budget.inFlight()).toBe(100);
  });

  it("answers 503 when the tenants together fill the total under the default share", async () => {
    const budget = createUploadBudget({ totalBytes: 100 });
    const a = await budget.reserve("a", 50);
    await budget.reserve("b", 50);
    expectServerBusy(await refusal(budget, "c", 1));
    a();
    await budget.reserve("c", 50);
    expect(budget.inFlight()).toBe(100);
  });

  it("checks the tenant's share before the process cap", async () => {
    const budget = createUploadBudget({ totalBytes: 100 });
    await budget.reserve("a", 50);
    await budget.reserve("b", 50);
    expectTenantShareRefusal(await refusal(budget, "a", 1));
  });

  it("admits one request larger than both caps when nothing is held", async () => {
    const budget = createUploadBudget({ totalBytes: 100 });
    const release = await budget.reserve("a", 500);
    expect(budget.inFlight()).toBe(500);
    expectTenantShareRefusal(await refusal(budget, "a", 1));
    expectServerBusy(await refusal(budget, "b", 1));
    release();
    expect(budget.inFlight()).toBe(0);
    await budget.reserve("b", 1);
    expect(budget.inFlight()).toBe(1);
  });

  it("releases once, however often the release is called", async () => {
    const budget = createUploadBudget({ totalBytes: 100 });
    const first = await budget.reserve("a", 30);
    await budget.reserve("a", 20);
    await budget.reserve("b", 10);
    first();
    first();
    first();
    expect(budget.inFlight()).toBe(30);
    // Tenant a still holds 20: a second release did not count its bytes again.
    await budget.reserve("a", 30);
    expect(budget.inFlight()).toBe(60);
    expectTenantShareRefusal(await refusal(budget, "a", 1));
  });
});
