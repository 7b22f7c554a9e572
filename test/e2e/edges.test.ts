// The edges of the gateway (issue 10, "Timeouts and caps at the edge", and
// finding 8): strict query and key-expiry parameters, a request that must have
// arrived within IMAGEGATE_BODY_TIMEOUT_MS while its response may take longer,
// and a cap on open connections per process.
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await gw?.close();
  gw = undefined;
});

const asAdmin = { authorization: `Bearer ${adminToken}` };
const tenYears = 10 * 365 * 86_400;

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function opened(gateway: TestGateway): Promise<Socket> {
  const { port } = new URL(gateway.url);
  const socket = connect(Number(port), "127.0.0.1");
  sockets.push(socket);
  return once(socket, "connect").then(() => socket);
}

/** Everything the server sends until it closes the connection. */
function untilClosed(socket: Socket): Promise<string> {
  let received = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    received += chunk;
  });
  socket.on("error", () => {});
  return once(socket, "close").then(() => received);
}

/** One keep-alive response on a raw connection (Content-Length framed). */
function response(socket: Socket): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = received.subarray(0, end).toString("latin1");
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (received.length < end + 4 + length) return;
      socket.off("data", onData);
      socket.off("close", onClose);
      resolve({
        status: Number(head.split(" ")[1]),
        head,
        body: received.subarray(end + 4, end + 4 + length).toString("utf8"),
      });
    };
    const onClose = () => reject(new Error(`closed after ${received.toString("latin1")}`));
    socket.on("data", onData);
    socket.once("close", onClose);
  });
}

/** A deadline for a promise that must settle: the test fails instead of hanging. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function splitResponse(raw: string): { status: number; head: string; body: string } {
  const end = raw.indexOf("\r\n\r\n");
  const head = end < 0 ? raw : raw.slice(0, end);
  return { status: Number(head.split(" ")[1]), head, body: end < 0 ? "" : raw.slice(end + 4) };
}

describe("admin usage dates (finding 8)", () => {
  it.each([
    ["from=2025-13-45&to=2026-01-01", "from"],
    ["from=2026-00-10", "from"],
    ["to=2026-02-30", "to"],
    ["to=2025-02-29", "to"],
    ["from=2026-04-31&to=2026-05-01", "from"],
    ["from=2026-01-01&to=2026-06-31", "to"],
    ["to=+02026-01-01", "to"],
    ["from=2026-1-01", "from"],
  ])("?%s is a 400 naming %s", async (query, param) => {
    gw = await buildTestApp();
    const answer = await gw.app.inject({
      method: "GET",
      url: `/admin/tenants/${gw.tenantId}/usage?${query}`,
      headers: asAdmin,
    });
    expect(answer.statusCode).toBe(400);
    const body = answer.json<ErrorBody>();
    expect(body.error).toMatchObject({ type: "invalid_request_error", param });
  });

  it("accepts real days, a leap day among them", async () => {
    gw = await buildTestApp();
    const answer = await gw.app.inject({
      method: "GET",
      url: `/admin/tenants/${gw.tenantId}/usage?from=2024-02-29&to=2024-03-01`,
      headers: asAdmin,
    });
    expect(answer.statusCode).toBe(200);
  });
});

describe("key expiry is bounded (finding 8)", () => {
  async function issue(body: Record<string, unknown>) {
    if (!gw) throw new Error("no gateway");
    return gw.app.inject({
      method: "POST",
      url: `/admin/tenants/${gw.tenantId}/keys`,
      headers: asAdmin,
      payload: body,
    });
  }

  it.each([
    [{ expires_in: tenYears + 1 }, "expires_in"],
    [{ expires_in: Number.MAX_SAFE_INTEGER }, "expires_in"],
    [{ expires_in: 1e300 }, "expires_in"],
    [{ expires_at: Math.floor(Date.now() / 1000) + tenYears + 86_400 }, "expires_at"],
    [{ expires_at: 9_000_000_000_000 }, "expires_at"],
    [{ expires_at: Number.MAX_SAFE_INTEGER }, "expires_at"],
  ])("%j is a 400 naming %s", async (body, param) => {
    gw = await buildTestApp();
    const answer = await issue(body);
    expect(answer.statusCode).toBe(400);
    expect(answer.json<ErrorBody>().error).toMatchObject({ type: "invalid_request_error", param });
  });

  it("accepts ten years, and the expiry is a real date", async () => {
    gw = await buildTestApp();
    for (const body of [
      { expires_in: tenYears },
      { expires_at: Math.floor(Date.now() / 1000) + tenYears - 60 },
    ]) {
      const answer = await issue(body);
      expect(answer.statusCode).toBe(201);
      const key = answer.json<{ expires_at: number }>();
      expect(new Date(key.expires_at * 1000).toISOString()).toMatch(/^20\d\d-/);
    }
  });
});

describe("result index (finding 8)", () => {
  it("takes only a plain whole number", async () => {
    gw = await buildTestApp();
    const headers = { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json" };
    const submitted = await fetch(`${gw.url}/v1/images/generations/async`, {
      method: "POST",
      headers,
      body: JSON.stringify({ model: "nano-banana", prompt: "p [sim:duration=50]", n: 2 }),
    });
    expect(submitted.status).toBe(200);
    const { task_id: id } = (await submitted.json()) as { task_id: string };
    await vi.waitFor(
      async () => {
        const task = await fetch(`${gw?.url}/v1/images/tasks/${id}`, { headers });
        const status = ((await task.json()) as { data: { status: string } }).data.status;
        if (status !== "SUCCESS") throw new Error(`still ${status}`);
      },
      { timeout: 15_000, interval: 50 },
    );
    const content = (index: string) =>
      fetch(`${gw?.url}/v1/images/tasks/${id}/content${index}`, { headers });

    for (const query of ["", "?index=0", "?index=1"]) {
      const answer = await content(query);
      expect(answer.status, query).toBe(200);
      await answer.arrayBuffer();
    }
    // Past the task's own images: as before, no such result.
    expect((await content("?index=2")).status).toBe(404);
    for (const index of [
      "",
      "%200",
      "0%20",
      "0x0",
      "-0",
      "0.0",
      "00",
      "01",
      "1e0",
      "+1",
      "-1",
      "1.5",
      "Infinity",
      "NaN",
      "99999999999999999999",
    ]) {
      const answer = await content(`?index=${index}`);
      expect(answer.status, `index=${index}`).toBe(400);
      const body = (await answer.json()) as ErrorBody;
      expect(body.error, `index=${index}`).toMatchObject({
        type: "invalid_request_error",
        param: "index",
      });
    }
    const repeated = await content("?index=0&index=1");
    expect(repeated.status).toBe(400);
    expect(((await repeated.json()) as ErrorBody).error.param).toBe("index");
  });
});

describe("a request must arrive within IMAGEGATE_BODY_TIMEOUT_MS", () => {
  const env = { IMAGEGATE_BODY_TIMEOUT_MS: "1000" };

  it("cuts off a body trickled byte by byte with a 408 in the OpenAI shape", async () => {
    gw = await buildTestApp({ env });
    const socket = await opened(gw);
    const closed = untilClosed(socket);
    const body = JSON.stringify({ model: "nano-banana", prompt: "p" }).padEnd(4096, " ");
    socket.write(
      "POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\n" +
        `Authorization: Bearer ${gw.apiKey}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`,
    );
    // One byte every 100 ms: the connection is never idle, the body never done.
    let sent = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed && sent < body.length) socket.write(body[sent++] ?? "");
    }, 100);
    const started = Date.now();
    try {
      const raw = await within(8_000, closed, "the trickled request was not cut off");
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(4_000);
      const answer = splitResponse(raw);
      expect(answer.status).toBe(408);
      expect(answer.head).toMatch(/\r\nconnection: close/i);
      expect(answer.head).toMatch(/\r\ncontent-type: application\/json/i);
      expect(JSON.parse(answer.body)).toEqual({
        error: {
          message: expect.any(String),
          type: "timeout_error",
          param: null,
          code: "request_timeout",
        },
      });
    } finally {
      clearInterval(trickle);
    }
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("cuts off headers that never end", async () => {
    gw = await buildTestApp({ env });
    const socket = await opened(gw);
    const closed = untilClosed(socket);
    socket.write("GET /v1/models HTTP/1.1\r\nHost: gateway\r\n");
    const raw = await within(8_000, closed, "the unfinished headers were not cut off");
    expect(splitResponse(raw).status).toBe(408);
  });

  it("lets a generation answer long after its request arrived", async () => {
    gw = await buildTestApp({ env });
    const started = Date.now();
    const answer = await gw.client.images.generate({
      model: "nano-banana",
      prompt: "slow [sim:duration=1500]",
    });
    // Well past the 1 s timeout and a connection check (at most 250 ms) after it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    expect(answer.data?.[0]?.b64_json).toBeTruthy();
  });

  it("checks often enough for the timeout to mean something, headers within it too", async () => {
    gw = await buildTestApp({ env });
    const server = gw.app.server;
    expect(server.requestTimeout).toBe(1_000);
    expect(server.headersTimeout).toBeGreaterThan(0);
    expect(server.headersTimeout).toBeLessThanOrEqual(server.requestTimeout);
    const interval = (server as unknown as { connectionsCheckingInterval: number })
      .connectionsCheckingInterval;
    expect(interval).toBeLessThanOrEqual(250);
  });
});

describe("open connections are capped per process (IMAGEGATE_MAX_CONNECTIONS)", () => {
  it("refuses the one past the cap with a 503 and serves again once one closes", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_MAX_CONNECTIONS: "2" } });
    const health = "GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n";

    const held: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const socket = await opened(gw);
      const answer = response(socket);
      socket.write(health);
      expect((await answer).status).toBe(200);
      held.push(socket);
    }

    const third = await opened(gw);
    const closed = untilClosed(third);
    third.write(health);
    const refused = splitResponse(await within(8_000, closed, "the third connection"));
    expect(refused.status).toBe(503);
    expect(refused.head).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(refused.head).toMatch(/\r\nconnection: close/i);
    expect(refused.head).toMatch(/\r\ncontent-type: application\/json/i);
    expect(JSON.parse(refused.body)).toEqual({
      error: {
        message: expect.any(String),
        type: "server_error",
        param: null,
        code: "too_many_connections",
      },
    });

    // The held connections are untouched.
    const again = response(held[0] as Socket);
    held[0]?.write(health);
    expect((await again).status).toBe(200);

    held[1]?.destroy();
    await vi.waitFor(
      async () => {
        const count = await new Promise<number>((resolve, reject) =>
          gw?.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
        );
        expect(count).toBe(1);
      },
      { timeout: 5_000, interval: 20 },
    );
    const fourth = await opened(gw);
    const served = response(fourth);
    fourth.write(health);
    expect((await served).status).toBe(200);
  });
});
