// The "never pay twice" rules of admission (src/generation/admission.ts), with
// no server and no HTTP: a fake generation service counts the submits (one per
// start()), the records are the real SQLite store on a temp dir, the
// concurrency gate is the real one, time is a manual clock, and the responses
// are handles the test finishes or closes as Fastify's replies would.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ImageRequest } from "../../src/catalog/request.js";
import { translateRequest } from "../../src/catalog/translate.js";
import { gatewayError } from "../../src/errors.js";
import {
  type Admission,
  type AdmitRequest,
  type Caller,
  createAdmission,
  type ResponseHandle,
  requestDigest,
} from "../../src/generation/admission.js";
import { taskLifetimeMs } from "../../src/generation/generate.js";
import { type GenerationRecords, IdempotencyKeyTaken } from "../../src/generation/record.js";
import type { ReferenceImage, ReferencePublisher } from "../../src/generation/references.js";
import { type Db, openStore } from "../../src/stores/sqlite/database.js";
import { createSqliteGenerationRecords } from "../../src/stores/sqlite/generation-records.js";
import { type ConcurrencyGate, createConcurrencyGate } from "../../src/tenancy/limits.js";
import type { Tenant, Vault } from "../../src/tenancy/vault.js";
import {
  type FakeGenerationService,
  fakeGenerationService,
  type ManualClock,
  manualClock,
  nextTurn,
} from "../helpers/fake-generation.js";

const maxWaitMs = 60_000;
/** How long after it finished an undelivered generation may still be joined by a retry. */
const joinWindowMs = maxWaitMs + 60_000;
const idempotencyWindowMs = 24 * 3_600_000;
// Midday UTC: the daily budget's day does not turn during a test.
const startOfTest = Date.UTC(2026, 4, 4, 12, 0, 0);

/** The response a synchronous route answers with, as the HTTP layer hands it over. */
class FakeResponse implements ResponseHandle {
  closed = false;
  private readonly finishListeners: Array<(succeeded: boolean) => void> = [];
  private readonly closeListeners: Array<() => void> = [];

  onFinish(listener: (succeeded: boolean) => void): void {
    this.finishListeners.push(listener);
  }
  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }
  /** The answer went out in full with this status, then the connection closed. */
  finish(status: number): void {
    for (const listener of this.finishListeners) listener(status < 300);
    this.close();
  }
  /** The client went away (a timeout, a dropped connection) or the response ended. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.closeListeners) listener();
  }
}

/** A stub publisher: uploads become data URIs at once; stored blobs are named after the file. */
interface StubReferences extends ReferencePublisher {
  discarded: ReferenceImage[];
  forgotten: string[];
  /** When set, keep() and publish() wait for it. */
  hold: Promise<void> | undefined;
  /** When set, publish() fails with it (the blob store is full, say). */
  publishError: Error | undefined;
}

function stubReferences(): StubReferences {
  const references: StubReferences = {
    delivery: "data",
    discarded: [],
    forgotten: [],
    hold: undefined,
    publishError: undefined,
    async publish(images) {
      await references.hold;
      if (references.publishError !== undefined) throw references.publishError;
      return images.map((image) => `data:${image.contentType};base64,AAAA`);
    },
    async discard(images) {
      references.discarded.push(...images);
    },
    async keep(image) {
      await references.hold;
      return `kept${image.path.replaceAll("/", "_")}`;
    },
    async forget(ids) {
      references.forgotten.push(...ids);
    },
  };
  return references;
}

/** Admission uses the vault for the tenant's own upstream key alone. */
function stubVault(upstreamKey?: string): Vault {
  const unused = () => {
    throw new Error("not used by admission");
  };
  return {
    createTenant: unused,
    updateTenant: unused,
    listTenants: unused,
    getTenant: unused,
    issueKey: unused,
    listKeys: unused,
    revokeKey: unused,
    authenticate: unused,
    upstreamCredential: async () => upstreamKey,
  };
}

let dir: string;
let db: Db;
let clock: ManualClock;
let ledger: GenerationRecords;
let gate: ConcurrencyGate;
let generation: FakeGenerationService;
let references: StubReferences;
let warnings: object[];
let admission: ReturnType<typeof createAdmission>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "imagegate-admission-"));
  db = openStore(dir);
  for (const id of ["ten_acme", "ten_other"]) {
    db.prepare("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, 0)").run(id, id);
  }
  clock = manualClock(startOfTest);
  ledger = createSqliteGenerationRecords(db, clock);
  gate = createConcurrencyGate();
  generation = fakeGenerationService(ledger, clock);
  references = stubReferences();
  warnings = [];
  admission = createAdmission({
    generation,
    references,
    vault: stubVault(),
    gate,
    ledger,
    clock,
    maxWaitMs,
    log: { warn: (fields) => warnings.push(fields) },
  });
});

afterEach(async () => {
  // Deferred record writes commit at the end of the turn: before the file closes.
  await nextTurn();
  db.close();
  await rm(dir, { recursive: true, force: true });
});

function tenant(settings: Partial<Tenant> = {}): Tenant {
  return {
    id: "ten_acme",
    createdAt: 0,
    name: "acme",
    rpm: null,
    maxConcurrent: null,
    imagesPerDay: null,
    models: null,
    hasUpstreamKey: false,
    disabled: false,
    ...settings,
  };
}

function caller(
  who: Tenant,
  headers: {
    retryCount?: number;
    idempotencyKey?: Caller["idempotencyKey"];
    takeSlot?: Caller["takeSlot"];
  } = {},
): Caller {
  return {
    tenant: who,
    idempotencyKey: headers.idempotencyKey,
    retryCount: headers.retryCount ?? 0,
    takeSlot: headers.takeSlot,
  };
}

/** A checked generation request, as the routes hand it over. */
function request(
  prompt = "a red fox in the snow",
  options: { n?: number; releaseWith?: ResponseHandle; model?: string } = {},
): AdmitRequest {
  const body: ImageRequest = { prompt, model: options.model ?? "gpt-image-1", n: options.n };
  return {
    translation: translateRequest(body),
    uploads: [],
    requestHash: requestDigest("/v1/images/generations", body, []),
    releaseWith: options.releaseWith,
  };
}

const png = (path: string): ReferenceImage => ({ path, size: 1_000, contentType: "image/png" });

/** A masked edit: its image and mask are stored before the reservation. */
function maskedEdit(prompt: string, releaseWith?: ResponseHandle): AdmitRequest {
  const body: ImageRequest = { prompt, model: "gpt-image-1" };
  const original = png(`/spool/${prompt}/image`);
  return {
    translation: translateRequest(body),
    uploads: [original],
    requestHash: requestDigest("/v1/images/edits", body, [Buffer.from(prompt)]),
    releaseWith,
    mask: { original, mask: png(`/spool/${prompt}/mask`) },
  };
}

const upstreamRefusal = () => gatewayError("upstream_rejected", { upstreamSays: "bad size" });

/** The generation an admission answers with: started, or joined while it runs. */
function recordIdOf(admitted: Admission): string {
  return admitted.kind === "started" ? admitted.generation.recordId : admitted.record.id;
}

/** The first attempt of a request, whose caller then stopped waiting (the SDK's timeout). */
async function firstAttemptGone(prompt?: string, who = tenant()) {
  const response = new FakeResponse();
  const admitted = await admission.admit(caller(who), request(prompt, { releaseWith: response }));
  expect(admitted.kind).toBe("started");
  response.close();
  return { admitted, response, task: generation.starts.at(-1) };
}

describe("SDK retries (X-Stainless-Retry-Count)", () => {
  it("a retry of a request still running joins it: one submit, the same generation", async () => {
    const { admitted: first } = await firstAttemptGone();
    // Longer ago than a synchronous caller waits: still running, still joined.
    clock.advance(3 * maxWaitMs);

    const retry = await admission.admit(
      caller(tenant(), { retryCount: 1 }),
      request(undefined, { releaseWith: new FakeResponse() }),
    );

    expect(generation.starts).toHaveLength(1);
    expect(retry.kind).toBe("joined");
    expect(recordIdOf(retry)).toBe(recordIdOf(first));
    expect(retry.generation).toBe(first.generation);
  });

  it("a retry after the first attempt's images were delivered (a 2xx went out) starts afresh", async () => {
    const response = new FakeResponse();
    const first = await admission.admit(
      caller(tenant()),
      request(undefined, { releaseWith: response }),
    );
    await generation.starts[0]?.succeed();
    response.finish(200);
    await nextTurn();
    expect((await ledger.get(recordIdOf(first)))?.deliveredAt).toBe(clock.now());

    const retry = await admission.admit(caller(tenant(), { retryCount: 1 }), request());

    expect(retry.kind).toBe("started");
    expect(recordIdOf(retry)).not.toBe(recordIdOf(first));
    expect(generation.starts).toHaveLength(2);
  });

  it("a retry after the first attempt answered with an error (not delivered) joins the finished generation", async () => {
    const response = new FakeResponse();
    const first = await admission.admit(
      caller(tenant()),
      request(undefined, { releaseWith: response }),
    );
    await generation.starts[0]?.succeed();
    // A 5xx answer went out (say, the wait ran out just before the images came).
    response.finish(504);
    await nextTurn();
    expect((await ledger.get(recordIdOf(first)))?.deliveredAt).toBeNull();

    const retry = await admission.admit(caller(tenant(), { retryCount: 1 }), request());

    expect(retry).toMatchObject({
      kind: "joined",
      record: { id: recordIdOf(first), state: "succeeded" },
    });
    expect(retry.generation).toBeUndefined();
    expect(generation.starts).toHaveLength(1);
  });

  it.each([
    { after: joinWindowMs, joins: true },
    { after: joinWindowMs + 1, joins: false },
  ])(
    "a retry $after ms after the first finished (undelivered) joins it: $joins",
    async ({ after, joins }) => {
      const { task } = await firstAttemptGone();
      await task?.succeed();
      clock.advance(after);

      const retry = await admission.admit(caller(tenant(), { retryCount: 2 }), request());

      expect(retry.kind).toBe(joins ? "joined" : "started");
      expect(generation.starts).toHaveLength(joins ? 1 : 2);
    },
  );

  it.each([
    { after: taskLifetimeMs + maxWaitMs, joins: true },
    { after: taskLifetimeMs + maxWaitMs + 1, joins: false },
  ])(
    "a retry $after ms after a generation started that never finished joins it: $joins",
    async ({ after, joins }) => {
      await firstAttemptGone();
      clock.advance(after);

      const retry = await admission.admit(caller(tenant(), { retryCount: 1 }), request());

      expect(retry.kind).toBe(joins ? "joined" : "started");
      expect(generation.starts).toHaveLength(joins ? 1 : 2);
    },
  );

  it("a retry of a generation whose submit was definitely refused starts afresh (never joined)", async () => {
    const response = new FakeResponse();
    await admission.admit(caller(tenant()), request(undefined, { releaseWith: response }));
    await generation.starts[0]?.refuse(upstreamRefusal());
    response.finish(400);

    const retry = await admission.admit(caller(tenant(), { retryCount: 1 }), request());

    expect(retry.kind).toBe("started");
    expect(generation.starts).toHaveLength(2);
  });

  it("a retry while another response is still attached to the first does not join it", async () => {
    const waiting = new FakeResponse();
    const first = await admission.admit(
      caller(tenant()),
      request(undefined, { releaseWith: waiting }),
    );

    // The first caller is still waiting: this is another request, not its retry.
    const second = await admission.admit(
      caller(tenant(), { retryCount: 1 }),
      request(undefined, { releaseWith: new FakeResponse() }),
    );
    expect(second.kind).toBe("started");
    expect(generation.starts).toHaveLength(2);

    // Once the first caller has gone, a retry joins the generation it left
    // (the second still has its caller attached).
    waiting.close();
    const third = await admission.admit(caller(tenant(), { retryCount: 2 }), request());
    expect(third.kind).toBe("joined");
    expect(recordIdOf(third)).toBe(recordIdOf(first));
    expect(generation.starts).toHaveLength(2);
  });

  it("a retry that joined is attached in turn: a further retry meanwhile does not join", async () => {
    await firstAttemptGone();
    const joinedResponse = new FakeResponse();
    const joined = await admission.admit(
      caller(tenant(), { retryCount: 1 }),
      request(undefined, { releaseWith: joinedResponse }),
    );
    expect(joined.kind).toBe("joined");

    const another = await admission.admit(caller(tenant(), { retryCount: 1 }), request());

    expect(another.kind).toBe("started");
    expect(generation.starts).toHaveLength(2);
  });

  it("a response already gone when its request is admitted is not counted as attached", async () => {
    const gone = new FakeResponse();
    gone.close();
    const first = await admission.admit(
      caller(tenant()),
      request(undefined, { releaseWith: gone }),
    );

    const retry = await admission.admit(caller(tenant(), { retryCount: 1 }), request());

    expect(retry.kind).toBe("joined");
    expect(recordIdOf(retry)).toBe(recordIdOf(first));
    expect(generation.starts).toHaveLength(1);
  });

  it("an identical request without retry headers starts afresh: two submits", async () => {
    await firstAttemptGone();

    const again = await admission.admit(caller(tenant()), request());

    expect(again.kind).toBe("started");
    expect(generation.starts).toHaveLength(2);
  });

  it("a retry never joins another request's body, nor another tenant's identical request", async () => {
    await firstAttemptGone("a red fox in the snow");

    const otherBody = await admission.admit(
      caller(tenant(), { retryCount: 1 }),
      request("a blue fox in the snow"),
    );
    const otherTenant = await admission.admit(
      caller(tenant({ id: "ten_other" }), { retryCount: 1 }),
      request("a red fox in the snow"),
    );

    expect(otherBody.kind).toBe("started");
    expect(otherTenant.kind).toBe("started");
    expect(generation.starts).toHaveLength(3);
  });
});

describe("Idempotency-Key", () => {
  it("the same key twice: one submit, the second joins the first (even while its caller waits)", async () => {
    const first = await admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      request(undefined, { releaseWith: new FakeResponse() }),
    );
    expect(await admission.mayJoin(caller(tenant(), { idempotencyKey: "order-42" }))).toBe(true);

    const second = await admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      request(),
    );

    expect(second.kind).toBe("joined");
    expect(recordIdOf(second)).toBe(recordIdOf(first));
    expect(second.generation).toBe(first.generation);
    expect(generation.starts).toHaveLength(1);
  });

  it("the same key after the images were delivered still answers with the first generation", async () => {
    const response = new FakeResponse();
    const first = await admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      request(undefined, { releaseWith: response }),
    );
    await generation.starts[0]?.succeed();
    response.finish(200);

    const second = await admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      request(),
    );

    expect(second).toMatchObject({ kind: "joined", record: { id: recordIdOf(first) } });
    expect(generation.starts).toHaveLength(1);
  });

  it("the same key with another body is a 409 idempotency_key_reused, with no submit and the slot given back", async () => {
    await admission.admit(caller(tenant(), { idempotencyKey: "order-42" }), request("a red fox"));
    const released: string[] = [];
    const slot = await gate.acquire("ten_acme", null);
    const takeSlot = () => () => {
      released.push("slot");
      slot();
    };

    await expect(
      admission.admit(
        caller(tenant(), { idempotencyKey: "order-42", takeSlot }),
        request("a blue fox"),
      ),
    ).rejects.toMatchObject({ status: 409, code: "idempotency_key_reused", retryable: false });

    expect(generation.starts).toHaveLength(1);
    expect(released).toEqual(["slot"]);
    expect(await gate.inFlight("ten_acme")).toBe(1);
  });

  it("a key whose first submit was definitely refused starts afresh, and the key moves to the new generation", async () => {
    const first = await admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      request(),
    );
    await generation.starts[0]?.refuse(upstreamRefusal());
    expect(await admission.mayJoin(caller(tenant(), { idempotencyKey: "order-42" }))).toBe(false);

    const second = await admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      request(),
    );

    expect(second.kind).toBe("started");
    expect(generation.starts).toHaveLength(2);
    expect((await ledger.byIdempotencyKey("ten_acme", "order-42"))?.id).toBe(recordIdOf(second));
    expect(await ledger.get(recordIdOf(first))).toMatchObject({
      state: "refused",
      idempotencyKey: null,
    });
  });

  it.each([
    { age: idempotencyWindowMs, body: "a red fox", outcome: "joined" },
    { age: idempotencyWindowMs + 1, body: "a red fox", outcome: "started" },
    // An expired key is free for any request, not a conflict.
    { age: idempotencyWindowMs + 1, body: "a blue fox", outcome: "started" },
  ])("a key $age ms old, sent with '$body': $outcome", async ({ age, body, outcome }) => {
    const first = await admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      request("a red fox"),
    );
    await generation.starts[0]?.succeed();
    clock.advance(age);

    const second = await admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      request(body),
    );

    expect(second.kind).toBe(outcome);
    expect(generation.starts).toHaveLength(outcome === "joined" ? 1 : 2);
    if (outcome === "started") {
      expect((await ledger.get(recordIdOf(first)))?.idempotencyKey).toBeNull();
      expect((await ledger.byIdempotencyKey("ten_acme", "order-42"))?.id).toBe(recordIdOf(second));
    }
  });

  it.each<{ name: string; key: Caller["idempotencyKey"] }>([
    { name: "256 characters", key: "k".repeat(256) },
    { name: "empty", key: "" },
    { name: "a space", key: "order 42" },
    { name: "a control character", key: "order\t42" },
    { name: "non-ASCII", key: "заказ-42" },
    { name: "the header sent twice", key: ["order-42", "order-43"] },
    { name: "not a string", key: 42 as unknown as string },
  ])(
    "an invalid key ($name) is a 400 invalid_idempotency_key; the intake's slot is given back",
    async ({ key }) => {
      const who = tenant({ maxConcurrent: 1 });
      // The slot the intake took before the body was read.
      const slot = await gate.acquire(who.id, who.maxConcurrent);
      const takeSlot = () => slot;
      expect(await admission.mayJoin(caller(who, { idempotencyKey: key }))).toBe(false);

      await expect(
        admission.admit(caller(who, { idempotencyKey: key, takeSlot }), request()),
      ).rejects.toMatchObject({ status: 400, code: "invalid_idempotency_key" });

      expect(await gate.inFlight(who.id)).toBe(0);
      expect(generation.starts).toHaveLength(0);
    },
  );

  it("a key of 255 printable characters is valid", async () => {
    const key = `${"k".repeat(254)}~`;
    const first = await admission.admit(caller(tenant(), { idempotencyKey: key }), request());
    const second = await admission.admit(caller(tenant(), { idempotencyKey: key }), request());

    expect(first.kind).toBe("started");
    expect(second.kind).toBe("joined");
    expect(generation.starts).toHaveLength(1);
  });

  it("two requests with one key at once, both past the key lookup before either reserved: one submit (the unique index)", async () => {
    const reserves: Array<"reserved" | "unique violation" | "another failure"> = [];
    const reserve = ledger.reserve.bind(ledger);
    ledger.reserve = async (req) => {
      try {
        const id = await reserve(req);
        reserves.push("reserved");
        return id;
      } catch (err) {
        reserves.push(err instanceof IdempotencyKeyTaken ? "unique violation" : "another failure");
        throw err;
      }
    };
    // Masked edits store their image and mask before the reservation: both
    // requests wait there, after their key lookup found nothing.
    let storeMasks!: () => void;
    references.hold = new Promise((resolve) => {
      storeMasks = resolve;
    });
    const a = admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      maskedEdit("a fox", new FakeResponse()),
    );
    const b = admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      maskedEdit("a fox", new FakeResponse()),
    );
    storeMasks();
    const [first, second] = await Promise.all([a, b]);

    expect(reserves).toEqual(["reserved", "unique violation"]);
    expect([first.kind, second.kind].sort()).toEqual(["joined", "started"]);
    expect(recordIdOf(second)).toBe(recordIdOf(first));
    expect(generation.starts).toHaveLength(1);
    // The loser's stored image and mask are not left behind.
    expect(references.forgotten).toHaveLength(2);
  });

  // Regression: the unique-index path joined without comparing the request
  // hash, so a concurrent request with the same key and another body was
  // answered with the first request's images instead of a 409.
  it("two requests with one key at once and different bodies: the second is a 409, not a join (regression)", async () => {
    let storeMasks!: () => void;
    references.hold = new Promise((resolve) => {
      storeMasks = resolve;
    });
    const a = admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      maskedEdit("a fox"),
    );
    const b = admission.admit(
      caller(tenant(), { idempotencyKey: "order-42" }),
      maskedEdit("a cat"),
    );
    storeMasks();
    const outcomes = await Promise.allSettled([a, b]);

    expect(generation.starts).toHaveLength(1);
    expect(outcomes[1]).toMatchObject({
      status: "rejected",
      reason: { status: 409, code: "idempotency_key_reused" },
    });
  });

  it("the same key while the first is still storing its uploads waits for it to start and joins it", async () => {
    let publish!: () => void;
    references.hold = new Promise((resolve) => {
      publish = resolve;
    });
    const withUpload = (): AdmitRequest => ({ ...request(), uploads: [png("/spool/ref")] });
    const a = admission.admit(caller(tenant(), { idempotencyKey: "order-42" }), withUpload());
    const b = admission.admit(caller(tenant(), { idempotencyKey: "order-42" }), withUpload());
    expect(generation.starts).toHaveLength(0);
    publish();
    const [first, second] = await Promise.all([a, b]);

    expect(first.kind).toBe("started");
    expect(second.kind).toBe("joined");
    expect(second.generation).toBe(first.generation);
    expect(generation.starts).toHaveLength(1);
  });

  it("uploads that cannot be stored: nothing is submitted, the key is freed, and the request that joined meanwhile answers that failure", async () => {
    let publish!: () => void;
    references.hold = new Promise((resolve) => {
      publish = resolve;
    });
    references.publishError = new Error("disk full");
    const who = tenant({ maxConcurrent: 2 });
    const withUpload = (): AdmitRequest => ({ ...request(), uploads: [png("/spool/ref")] });
    const a = admission.admit(caller(who, { idempotencyKey: "order-42" }), withUpload());
    const b = admission.admit(caller(who, { idempotencyKey: "order-42" }), withUpload());
    publish();

    await expect(a).rejects.toThrow("disk full");
    const joined = await b;
    expect(joined).toMatchObject({
      kind: "joined",
      generation: undefined,
      record: { state: "refused" },
    });
    // Not "still running": nothing runs behind it.
    await expect(admission.result(joined, clock.now())).rejects.toMatchObject({
      status: 500,
      code: "internal_error",
    });
    expect(generation.starts).toHaveLength(0);
    expect(await gate.inFlight(who.id)).toBe(0);
    // The SDK's retry of it starts afresh.
    references.publishError = undefined;
    const retry = await admission.admit(
      caller(who, { idempotencyKey: "order-42", retryCount: 1 }),
      withUpload(),
    );
    expect(retry.kind).toBe("started");
    expect(generation.starts).toHaveLength(1);
  });
});

describe("mayJoin (from the headers alone, before the body is read)", () => {
  it("is true for an SDK retry and for a key in use, false otherwise", async () => {
    await admission.admit(caller(tenant(), { idempotencyKey: "order-42" }), request());

    expect(await admission.mayJoin(caller(tenant(), { retryCount: 1 }))).toBe(true);
    expect(await admission.mayJoin(caller(tenant(), { idempotencyKey: "order-42" }))).toBe(true);
    expect(await admission.mayJoin(caller(tenant()))).toBe(false);
    expect(await admission.mayJoin(caller(tenant(), { idempotencyKey: "order-43" }))).toBe(false);
    expect(
      await admission.mayJoin(caller(tenant({ id: "ten_other" }), { idempotencyKey: "order-42" })),
    ).toBe(false);
  });
});

describe("the concurrency gate (max_concurrent)", () => {
  it("at max_concurrent 1, a second distinct request is a 429 concurrency_limit_exceeded with no submit", async () => {
    const who = tenant({ maxConcurrent: 1 });
    await firstAttemptGone("a red fox", who);

    await expect(admission.admit(caller(who), request("a blue fox"))).rejects.toMatchObject({
      status: 429,
      code: "concurrency_limit_exceeded",
    });
    expect(generation.starts).toHaveLength(1);
  });

  it("a joining retry takes no slot, even when the tenant is at its limit", async () => {
    const who = tenant({ maxConcurrent: 1 });
    await firstAttemptGone(undefined, who);
    // The intake of a request that may join only tries for a slot: none is free.
    const slot = await gate.tryAcquire(who.id, who.maxConcurrent);
    const takeSlot = () => slot;

    const retry = await admission.admit(caller(who, { retryCount: 1, takeSlot }), request());

    expect(retry.kind).toBe("joined");
    expect(await gate.inFlight(who.id)).toBe(1);
    expect(generation.starts).toHaveLength(1);
  });

  it("a joining retry gives back the slot its intake took", async () => {
    const who = tenant({ maxConcurrent: 2 });
    await firstAttemptGone(undefined, who);
    const slot = await gate.tryAcquire(who.id, who.maxConcurrent);
    const takeSlot = () => slot;

    const retry = await admission.admit(caller(who, { retryCount: 1, takeSlot }), request());

    expect(retry.kind).toBe("joined");
    expect(await gate.inFlight(who.id)).toBe(1);
  });

  it("the slot the intake took is the task's slot (not a second one)", async () => {
    const who = tenant({ maxConcurrent: 1 });
    const slot = await gate.acquire(who.id, who.maxConcurrent);
    const takeSlot = () => slot;

    const admitted = await admission.admit(caller(who, { takeSlot }), request());

    expect(admitted.kind).toBe("started");
    expect(await gate.inFlight(who.id)).toBe(1);
  });

  it.each(["succeed", "fail", "refuse"] as const)(
    "the slot is held while the task runs (whether or not its caller waits) and released once it is done: %s",
    async (outcome) => {
      const who = tenant({ maxConcurrent: 1 });
      const { task } = await firstAttemptGone("a red fox", who);
      expect(await gate.inFlight(who.id)).toBe(1);

      if (outcome === "succeed") await task?.succeed();
      else if (outcome === "fail") await task?.fail(upstreamRefusal());
      else await task?.refuse(upstreamRefusal());

      expect(await gate.inFlight(who.id)).toBe(0);
      const next = await admission.admit(caller(who), request("a blue fox"));
      expect(next.kind).toBe("started");
      expect(generation.starts).toHaveLength(2);
    },
  );

  it("a model the tenant may not use is a 403 before anything is submitted; the intake's slot is given back", async () => {
    const who = tenant({ maxConcurrent: 1, models: ["nano-banana"] });
    const slot = await gate.acquire(who.id, who.maxConcurrent);
    const takeSlot = () => slot;

    await expect(admission.admit(caller(who, { takeSlot }), request())).rejects.toMatchObject({
      status: 403,
      code: "model_not_allowed",
    });
    expect(await gate.inFlight(who.id)).toBe(0);
    expect(generation.starts).toHaveLength(0);
  });
});

describe("the daily image budget (images_per_day)", () => {
  it("past the budget is a 429 insufficient_quota with no submit and no slot kept", async () => {
    const who = tenant({ imagesPerDay: 3 });
    await admission.admit(caller(who), request("a red fox", { n: 2 }));

    await expect(
      admission.admit(caller(who), request("a blue fox", { n: 2 })),
    ).rejects.toMatchObject({ status: 429, code: "insufficient_quota" });
    expect(generation.starts).toHaveLength(1);
    expect(await gate.inFlight(who.id)).toBe(1);

    // What is left of it may still be used.
    const last = await admission.admit(caller(who), request("a green fox", { n: 1 }));
    expect(last.kind).toBe("started");
    expect(generation.starts).toHaveLength(2);
  });

  it("a refused submit does not use the budget", async () => {
    const who = tenant({ imagesPerDay: 1 });
    await admission.admit(caller(who), request("a red fox"));
    await generation.starts[0]?.refuse(upstreamRefusal());

    const second = await admission.admit(caller(who), request("a blue fox"));
    expect(second.kind).toBe("started");
    expect(generation.starts).toHaveLength(2);

    await expect(admission.admit(caller(who), request("a green fox"))).rejects.toMatchObject({
      status: 429,
      code: "insufficient_quota",
    });
    expect(generation.starts).toHaveLength(2);
  });

  it("a joining retry is not charged again, even with the budget used up", async () => {
    const who = tenant({ imagesPerDay: 1 });
    await firstAttemptGone(undefined, who);

    const retry = await admission.admit(caller(who, { retryCount: 1 }), request());

    expect(retry.kind).toBe("joined");
    expect(await ledger.imagesToday(who.id)).toBe(1);
    expect(generation.starts).toHaveLength(1);
  });
});

describe("result()", () => {
  it("a running generation past the wait limit is the 504 naming the task, which goes on", async () => {
    const receivedAt = clock.now();
    // Reading the body took five seconds of the wait.
    clock.advance(5_000);
    const admitted = await admission.admit(caller(tenant()), request());
    const task = generation.starts[0];
    await task?.accept("task_upstream_1");
    let settled = false;
    const waiting = admission.result(admitted, receivedAt);
    waiting.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );

    clock.advance(maxWaitMs - 5_000 - 1);
    await nextTurn();
    expect(settled).toBe(false);
    clock.advance(1);
    await nextTurn();
    expect(settled).toBe(true);

    const recordId = recordIdOf(admitted);
    await expect(waiting).rejects.toMatchObject({
      status: 504,
      code: "generation_timeout",
      retryable: false,
      message: expect.stringContaining(`task ${recordId} (upstream task task_upstream_1)`),
    });
    expect((await ledger.get(recordId))?.state).toBe("running");
    // It goes on: its images arrive later and a retry joins them.
    await task?.succeed();
    const retry = await admission.admit(caller(tenant(), { retryCount: 1 }), request());
    expect(retry).toMatchObject({ kind: "joined", record: { id: recordId, state: "succeeded" } });
    expect(generation.starts).toHaveLength(1);
  });

  it("a generation that finishes within the wait answers with its images; no timer is left", async () => {
    const admitted = await admission.admit(caller(tenant()), request());
    const waiting = admission.result(admitted, clock.now());
    clock.advance(maxWaitMs - 1);
    const images = await generation.starts[0]?.succeed();

    await expect(waiting).resolves.toBe(images);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("a joined finished generation answers from its record", async () => {
    const { admitted: first, task } = await firstAttemptGone();
    await task?.accept("task_upstream_7");
    clock.advance(10_000);
    await task?.succeed([{ id: "result_0.png", contentType: "image/png", size: 123 }]);
    const finishedAt = clock.now();
    clock.advance(1_000);

    const retry = await admission.admit(caller(tenant(), { retryCount: 1 }), request());
    expect(retry).toMatchObject({ kind: "joined", generation: undefined });

    const result = await admission.result(retry, clock.now());
    expect(result).toMatchObject({
      recordId: recordIdOf(first),
      created: Math.floor(finishedAt / 1000),
      upstreamTaskId: "task_upstream_7",
      images: [{ id: "result_0.png", contentType: "image/png", size: 123 }],
    });
    expect(generation.starts).toHaveLength(1);
  });

  it("a joined generation whose task failed answers its recorded error, without a submit", async () => {
    const { task } = await firstAttemptGone();
    await task?.fail(
      gatewayError("upstream_task_failed", { taskId: "task_1", reason: "out of capacity" }),
    );

    const retry = await admission.admit(caller(tenant(), { retryCount: 1 }), request());
    expect(retry.kind).toBe("joined");

    await expect(admission.result(retry, clock.now())).rejects.toMatchObject({
      status: 502,
      code: "upstream_task_failed",
      retryable: false,
    });
    expect(generation.starts).toHaveLength(1);
  });

  it("a joined generation recorded as running but not running in this process is the 504 naming it", async () => {
    // Reserved by another attempt whose task this process does not run (being resumed).
    const admit = request();
    const recordId = await ledger.reserve({
      tenant: tenant(),
      model: admit.translation.model.spec.id,
      requestedModel: admit.translation.model.requested,
      n: 1,
      requestHash: admit.requestHash,
    });
    await ledger.reserved(recordId);

    const retry = await admission.admit(caller(tenant(), { retryCount: 1 }), admit);
    expect(retry).toMatchObject({ kind: "joined", generation: undefined });

    await expect(admission.result(retry, clock.now())).rejects.toMatchObject({
      status: 504,
      code: "generation_timeout",
      message: expect.stringContaining(recordId),
    });
    expect(generation.starts).toHaveLength(0);
  });
});

describe("wiring", () => {
  it("a tenant's own upstream key routes its task to its own account alone (the vault is asked for nothing else)", async () => {
    const own = createAdmission({
      generation,
      references,
      vault: stubVault("sk-tenant-own"),
      gate,
      ledger,
      clock,
      maxWaitMs,
      log: { warn: () => {} },
    });

    await own.admit(caller(tenant({ hasUpstreamKey: true })), request());

    expect(generation.channelRequests).toEqual([
      {
        upstreamModel: "gpt-image-2",
        callerModel: "gpt-image-1",
        own: { owner: "ten_acme", credential: "sk-tenant-own" },
      },
    ]);
    expect(warnings).toEqual([]);
  });
});
