// Channels without a network: the routing order, what a route leaves out and
// why, task slots against max_concurrent, refused credentials, and changes
// made to the store by someone else (the CLI) taken up by a running registry.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createChannelRegistry } from "../../src/channels/registry.js";
import { routeOrder } from "../../src/channels/routing.js";
import type { ChannelStore } from "../../src/channels/store.js";
import type { Clock } from "../../src/clock.js";
import { UpstreamError } from "../../src/providers/failures.js";
import { seededRandom } from "../../src/simulator/task-mix.js";
import { createSqliteChannelStore } from "../../src/stores/sqlite/channels.js";
import { openStore } from "../../src/stores/sqlite/database.js";

function manualClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000;
  return {
    now: () => now,
    setTimeout: () => ({}),
    clearTimeout: () => {},
    advance(ms) {
      now += ms;
    },
  };
}

/** A deterministic stream of numbers in [0, 1). */
function sequence(values: number[]): () => number {
  let index = 0;
  return () => values[index++ % values.length] as number;
}

describe("routeOrder", () => {
  const channel = (name: string, priority: number, weight: number) => ({ name, priority, weight });

  it("puts higher priorities first, whatever the draw", () => {
    const order = routeOrder(
      [channel("low", 0, 100), channel("high", 5, 1), channel("mid", 1, 1)],
      sequence([0.99, 0.01, 0.5]),
    );
    expect(order.map((c) => c.name)).toEqual(["high", "mid", "low"]);
  });

  it("spreads first choices within a priority in proportion to the weights", () => {
    const random = seededRandom(7);
    let heavy = 0;
    for (let i = 0; i < 2_000; i++) {
      const [first] = routeOrder([channel("light", 0, 1), channel("heavy", 0, 3)], random);
      if (first?.name === "heavy") heavy++;
    }
    // Weight 3 against 1: three quarters of the first choices.
    expect(heavy / 2_000).toBeGreaterThan(0.7);
    expect(heavy / 2_000).toBeLessThan(0.8);
  });

  it("a weight of 0 is a standby: last of its priority", () => {
    for (const draw of [0.01, 0.5, 0.99]) {
      const order = routeOrder([channel("standby", 0, 0), channel("main", 0, 1)], () => draw);
      expect(order.map((c) => c.name)).toEqual(["main", "standby"]);
    }
  });
});

describe("channel registry", () => {
  let dir: string;
  let store: ChannelStore;
  let close: () => void;
  const clock = manualClock();
  const masterKey = Buffer.alloc(32, 3);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagegate-channels-"));
    const db = openStore(dir);
    close = () => db.close();
    store = createSqliteChannelStore({ db, clock, masterKey });
  });
  afterEach(async () => {
    close();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * The registry, with the environment's default channel unless `withDefault`
   * is false, loaded from the store (as the plugin does at start).
   */
  const registryOf = async (withDefault = true, options: { reloadCheckMs?: number } = {}) => {
    const registry = createChannelRegistry({
      store,
      clock,
      upstreamUrl: "http://127.0.0.1:9",
      upstreamKey: withDefault ? "env-key" : undefined,
      random: () => 0.5,
      ...options,
    });
    await registry.reload();
    return registry;
  };

  it("routes a model to the enabled channels that serve it, the environment's among them", async () => {
    await store.create({
      name: "gpt-only",
      provider: "async",
      baseUrl: "http://127.0.0.1:10",
      apiKey: "k1",
      models: ["gpt-image-2"],
      priority: 5,
    });
    await store.create({
      name: "off",
      provider: "async",
      baseUrl: "http://127.0.0.1:11",
      apiKey: "k2",
      enabled: false,
      priority: 9,
    });
    await store.create({
      name: "oa",
      provider: "openai",
      baseUrl: "http://127.0.0.1:12/v1",
      apiKey: "k3",
    });
    const registry = await registryOf();
    const gpt = registry.route("gpt-image-2");
    expect(gpt.candidates.map((c) => c.name)).toEqual(["gpt-only", "default", "oa"]);
    // The openai provider serves only OpenAI's model unless it lists others.
    const banana = registry.route("gemini-3.1-flash-image-preview");
    expect(banana.candidates.map((c) => c.name)).toEqual(["default"]);
    expect(banana.serving).toBe(1);
    await registry.close();
  });

  it("a private channel is the only candidate, whatever else serves the model", async () => {
    await store.create({
      name: "shared",
      provider: "async",
      baseUrl: "http://127.0.0.1:10",
      apiKey: "k1",
    });
    const registry = await registryOf();
    const own = registry.privateChannel("ten_1", "tenant-key");
    const plan = registry.route("gpt-image-2", own);
    expect(plan.candidates.map((c) => c.id)).toEqual(["tenant:ten_1"]);
    expect(plan.candidates[0]?.credential).toBe("tenant-key");
    await registry.close();
  });

  it("leaves out a channel at its max_concurrent until a slot is given back", async () => {
    const capped = await store.create({
      name: "capped",
      provider: "async",
      baseUrl: "http://127.0.0.1:10",
      apiKey: "k1",
      maxConcurrent: 1,
    });
    const registry = await registryOf(false);
    const channel = registry.byId(capped.id);
    if (channel === undefined) throw new Error("channel not loaded");
    const release = registry.acquire(channel);
    expect(release).toBeTypeOf("function");
    expect(registry.acquire(channel)).toBeUndefined();
    const plan = registry.route("gpt-image-2");
    expect(plan.candidates).toEqual([]);
    expect(plan.busy).toBe(true);
    // A resumed task is counted even past the cap.
    const forced = registry.acquire(channel, true);
    expect(registry.health(channel.id).inFlight).toBe(2);
    forced?.();
    release?.();
    release?.();
    expect(registry.health(channel.id).inFlight).toBe(0);
    expect(registry.route("gpt-image-2").candidates).toHaveLength(1);
    await registry.close();
  });

  it("a refused credential goes last for a minute, and a later acceptance clears it", async () => {
    await store.create({
      name: "a",
      provider: "async",
      baseUrl: "http://127.0.0.1:10",
      apiKey: "k1",
    });
    const registry = await registryOf(false);
    await store.create({
      name: "b",
      provider: "async",
      baseUrl: "http://127.0.0.1:11",
      apiKey: "k2",
    });
    await registry.refresh();
    const [a, b] = ["a", "b"].map((name) => registry.shared().find((c) => c.name === name));
    if (a === undefined || b === undefined) throw new Error("channels not loaded");
    registry.refused(
      a,
      new UpstreamError("refused", "no", { status: 401, code: "invalid_api_key" }),
    );
    expect(registry.health(a.id).credentialRefused).toMatchObject({ status: 401 });
    expect(registry.route("gpt-image-2").candidates.map((c) => c.name)).toEqual(["b", "a"]);
    // A refusal of the request itself says nothing about the account.
    registry.refused(b, new UpstreamError("refused", "bad size", { status: 400 }));
    expect(registry.health(b.id).credentialRefused).toBeUndefined();
    clock.advance(60_000);
    expect(
      registry
        .route("gpt-image-2")
        .candidates.map((c) => c.name)
        .sort(),
    ).toEqual(["a", "b"]);
    registry.accepted(a);
    expect(registry.health(a.id).credentialRefused).toBeUndefined();
    await registry.close();
  });

  it("takes up changes another process made to the store at the next refresh", async () => {
    const registry = await registryOf(false);
    expect(registry.shared()).toEqual([]);
    const made = await store.create({
      name: "from-cli",
      provider: "async",
      baseUrl: "http://127.0.0.1:10",
      apiKey: "k1",
    });
    // Nothing is read until a refresh (awaited before routing).
    expect(registry.shared()).toEqual([]);
    await registry.refresh();
    expect(registry.shared().map((c) => c.id)).toEqual([made.id]);
    await store.update(made.id, { enabled: false });
    await registry.refresh();
    expect(registry.route("gpt-image-2").serving).toBe(0);
    await store.remove(made.id);
    await registry.refresh();
    expect(registry.byId(made.id)).toBeUndefined();
    await registry.close();
  });

  it("with reloadCheckMs, asks the store again only once that much time has passed", async () => {
    const registry = await registryOf(false, { reloadCheckMs: 1_000 });
    expect(registry.shared()).toEqual([]);
    const made = await store.create({
      name: "from-cli",
      provider: "async",
      baseUrl: "http://127.0.0.1:10",
      apiKey: "k1",
    });
    clock.advance(999);
    await registry.refresh();
    expect(registry.shared()).toEqual([]);
    clock.advance(1);
    await registry.refresh();
    expect(registry.shared().map((c) => c.id)).toEqual([made.id]);
    await store.update(made.id, { enabled: false });
    clock.advance(1_000);
    await registry.refresh();
    expect(registry.route("gpt-image-2").serving).toBe(0);
    await store.remove(made.id);
    clock.advance(1_000);
    await registry.refresh();
    expect(registry.byId(made.id)).toBeUndefined();
    await registry.close();
  });

  it("a model is unserved only when every enabled channel serving it has its circuit open", async () => {
    await store.create({
      name: "a",
      provider: "async",
      baseUrl: "http://127.0.0.1:10",
      apiKey: "k1",
    });
    const registry = await registryOf();
    const models = ["gpt-image-2"];
    expect(registry.unservedModels(models)).toEqual([]);
    const [a] = registry.shared().filter((c) => c.name === "a");
    for (const id of ["ch_default", a?.id as string]) {
      for (let i = 0; i < 5; i++) registry.breaker(id).failure();
    }
    expect(registry.unservedModels(models)).toEqual(["gpt-image-2"]);
    await registry.close();
  });

  it("says in the logs when a channel's circuit opens and closes, and when its key is refused", async () => {
    const lines: Array<[string, object, string]> = [];
    const log = {
      warn: (fields: object, message: string) => lines.push(["warn", fields, message]),
      info: (fields: object, message: string) => lines.push(["info", fields, message]),
    };
    const registry = createChannelRegistry({
      store,
      clock,
      upstreamUrl: "http://127.0.0.1:9",
      upstreamKey: "env-key",
      log,
    });
    for (let i = 0; i < 5; i++) registry.breaker("ch_default").failure();
    expect(lines).toEqual([["warn", { channel: "ch_default" }, expect.stringContaining("opened")]]);
    registry.breaker("ch_default").success();
    expect(lines[1]).toEqual([
      "info",
      { channel: "ch_default" },
      expect.stringContaining("closed"),
    ]);
    const channel = registry.byId("ch_default");
    if (channel === undefined) throw new Error("no default channel");
    registry.refused(channel, new UpstreamError("refused", "no", { status: 403, code: "quota" }));
    expect(lines[2]).toEqual([
      "warn",
      { channel: "ch_default", status: 403, code: "quota" },
      expect.stringContaining("refused"),
    ]);
    // Nothing in any line is a key.
    expect(JSON.stringify(lines)).not.toContain("env-key");
    await registry.close();
  });
});
