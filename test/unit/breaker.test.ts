import { describe, expect, it } from "vitest";
import type { Clock } from "../../src/clock.js";
import type { UpstreamClient } from "../../src/providers/async/client.js";
import { UpstreamError } from "../../src/providers/failures.js";
import {
  createBreakerRegistry,
  createCircuitBreaker,
  observedClient,
} from "../../src/upstream/breaker.js";

function manualClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000;
  return {
    now: () => now,
    setTimeout: () => ({}) as never,
    clearTimeout: () => {},
    advance(ms: number) {
      now += ms;
    },
  };
}

describe("circuit breaker", () => {
  it("opens after the threshold of consecutive failures, for the cool-down", () => {
    const clock = manualClock();
    const breaker = createCircuitBreaker({ clock, threshold: 3, cooldownMs: 10_000 });
    breaker.failure();
    breaker.failure();
    expect(breaker.blockedForMs()).toBeUndefined();
    breaker.failure();
    expect(breaker.state).toBe("open");
    expect(breaker.blockedForMs()).toBe(10_000);
    clock.advance(4_000);
    expect(breaker.blockedForMs()).toBe(6_000);
  });

  it("a success in between resets the count", () => {
    const breaker = createCircuitBreaker({ clock: manualClock(), threshold: 2 });
    breaker.failure();
    breaker.success();
    breaker.failure();
    expect(breaker.state).toBe("closed");
  });

  it("after the cool-down lets one probe through; its success closes, its failure reopens", () => {
    const clock = manualClock();
    const breaker = createCircuitBreaker({ clock, threshold: 1, cooldownMs: 5_000 });
    breaker.failure();
    clock.advance(5_000);
    expect(breaker.state).toBe("half-open");
    expect(breaker.blockedForMs()).toBeUndefined();
    breaker.probing();
    // Only one probe at a time.
    expect(breaker.blockedForMs()).toBeGreaterThan(0);
    breaker.failure();
    expect(breaker.state).toBe("open");
    expect(breaker.blockedForMs()).toBe(5_000);
    clock.advance(5_000);
    breaker.probing();
    breaker.success();
    expect(breaker.state).toBe("closed");
    expect(breaker.blockedForMs()).toBeUndefined();
  });

  it("counts only the upstream being unwell, not its refusals", async () => {
    const breakers = createBreakerRegistry({ clock: manualClock(), threshold: 2 });
    const failing = (kind: UpstreamError["kind"]): UpstreamClient => ({
      submit: async () => {
        throw new UpstreamError(kind, "x");
      },
      read: async () => {
        throw new UpstreamError(kind, "x");
      },
      download: async () => {
        throw new UpstreamError(kind, "x");
      },
    });
    for (const kind of ["refused", "rate_limited", "task_not_exist", "gone"] as const) {
      await expect(observedClient(failing(kind), breakers, "k").submit("k", {})).rejects.toThrow();
      await expect(observedClient(failing(kind), breakers, "k").read("k", "t")).rejects.toThrow();
    }
    expect(breakers.of("k").state).toBe("closed");
    await expect(
      observedClient(failing("transient"), breakers, "k").read("k", "t"),
    ).rejects.toThrow();
    await expect(
      observedClient(failing("unreachable"), breakers, "k").submit("k", {}),
    ).rejects.toThrow();
    expect(breakers.of("k").state).toBe("open");
  });

  it("successful reads neither reset the count nor close a half-open circuit (regression)", async () => {
    const clock = manualClock();
    const breakers = createBreakerRegistry({ clock, threshold: 2, cooldownMs: 1_000 });
    const healthyReads: UpstreamClient = {
      submit: async () => {
        throw new UpstreamError("ambiguous", "timeout");
      },
      read: async () => ({ state: "pending" }) as never,
      download: async () => ({}) as never,
    };
    const client = observedClient(healthyReads, breakers, "k");
    await expect(client.submit("k", {})).rejects.toThrow();
    await client.read("k", "t");
    await expect(client.submit("k", {})).rejects.toThrow();
    expect(breakers.of("k").state).toBe("open");
    clock.advance(1_000);
    breakers.probing("k");
    await client.read("k", "t");
    expect(breakers.of("k").state).toBe("half-open");
    expect(breakers.blockedForMs("k")).toBeGreaterThan(0);
  });

  it("keeps one breaker per channel: one account's failing key stops no one else (regression)", async () => {
    const breakers = createBreakerRegistry({ clock: manualClock(), threshold: 2 });
    const base = {
      submit: async (credential: string) => {
        if (credential === "bad") throw new UpstreamError("unreachable", "x");
        return "task";
      },
      read: async () => ({ state: "pending" }) as never,
      download: async () => ({}) as never,
    };
    const failing = observedClient(base, breakers, "ch_bad");
    const healthy = observedClient(base, breakers, "ch_good");
    for (let i = 0; i < 5; i++) await expect(failing.submit("bad", {})).rejects.toThrow();
    expect(breakers.blockedForMs("ch_bad")).toBeGreaterThan(0);
    expect(breakers.blockedForMs("ch_good")).toBeUndefined();
    await expect(healthy.submit("good", {})).resolves.toBe("task");
    // A channel that recovers is forgotten: nothing accumulates.
    expect(breakers.tracked).toBe(1);
  });

  it("a probe that fails locally frees the probe: the circuit does not stay half-open for ever (regression)", async () => {
    const clock = manualClock();
    const breakers = createBreakerRegistry({ clock, threshold: 1, cooldownMs: 1_000 });
    let next: UpstreamError | undefined = new UpstreamError("unreachable", "down");
    const client = observedClient(
      {
        submit: async () => {
          if (next) throw next;
          return "task";
        },
        read: async () => ({ state: "pending" }) as never,
        download: async () => ({}) as never,
      },
      breakers,
      "k",
    );
    await expect(client.submit("k", {})).rejects.toThrow();
    clock.advance(1_000);
    expect(breakers.blockedForMs("k")).toBeUndefined();
    breakers.probing("k");
    next = new UpstreamError("local", "too large", { status: 413 });
    await expect(client.submit("k", {})).rejects.toThrow();
    expect(breakers.blockedForMs("k")).toBeUndefined();
    breakers.probing("k");
    next = undefined;
    await expect(client.submit("k", {})).resolves.toBe("task");
    expect(breakers.tracked).toBe(0);
  });

  it("errors of the gateway's own making (kind local) neither count nor close", async () => {
    const breakers = createBreakerRegistry({ clock: manualClock(), threshold: 1 });
    const local = observedClient(
      {
        submit: async () => {
          throw new UpstreamError("local", "unreadable upload");
        },
        read: async () => ({ state: "pending" }) as never,
        download: async () => ({}) as never,
      },
      breakers,
      "k",
    );
    for (let i = 0; i < 5; i++) await expect(local.submit("k", {})).rejects.toThrow();
    expect(breakers.blockedForMs("k")).toBeUndefined();
    expect(breakers.tracked).toBe(0);
  });

  it("failed reads while open do not keep it open: only a failed probe submit does (regression)", () => {
    const clock = manualClock();
    const breaker = createCircuitBreaker({ clock, threshold: 1, cooldownMs: 10_000 });
    breaker.failure("submit");
    clock.advance(6_000);
    breaker.failure("other");
    clock.advance(4_000);
    expect(breaker.state).toBe("half-open");
    expect(breaker.blockedForMs()).toBeUndefined();
    breaker.probing();
    breaker.failure("submit");
    expect(breaker.state).toBe("open");
  });
});
