// A circuit breaker in front of new submits: when the upstream keeps failing
// (connections refused, timeouts, 5xx — on any call, with no submit answered
// in between), new requests fail at
// once with a 503 and retry-after instead of piling up behind a dead upstream.
// After a cool-down one submit is let through as a probe; its success closes
// the circuit. Reads of tasks already submitted are not stopped: those tasks
// are paid for, and the poller has its own backoff.
import type { Clock } from "../clock.js";
import { type UpstreamClient, UpstreamError } from "./client.js";

export interface CircuitBreaker {
  /** Undefined when a submit may go ahead; else how long until it may be tried. */
  blockedForMs(): number | undefined;
  /** Marks the probe submit as taken (half-open: one at a time). */
  probing(): void;
  success(): void;
  /**
   * A call found the upstream unwell. Any call counts towards opening the
   * circuit; once open, only a failed submit (the probe) keeps it open longer,
   * since reads of tasks already in flight go on regardless.
   */
  failure(call?: "submit" | "other"): void;
  readonly state: "closed" | "open" | "half-open";
}

export interface BreakerOptions {
  clock: Clock;
  /** Consecutive failures that open the circuit. */
  threshold?: number;
  cooldownMs?: number;
}

export function createCircuitBreaker(options: BreakerOptions): CircuitBreaker {
  const { clock } = options;
  const threshold = options.threshold ?? 5;
  const cooldownMs = options.cooldownMs ?? 10_000;
  let failures = 0;
  let openedAt: number | undefined;
  let probeInFlight = false;

  const state = (): CircuitBreaker["state"] => {
    if (openedAt === undefined) return "closed";
    return clock.now() - openedAt >= cooldownMs ? "half-open" : "open";
  };

  return {
    blockedForMs() {
      const current = state();
      if (current === "closed") return undefined;
      if (current === "half-open" && !probeInFlight) return undefined;
      const since = clock.now() - (openedAt ?? clock.now());
      return Math.max(1_000, cooldownMs - since);
    },
    probing() {
      if (state() === "half-open") probeInFlight = true;
    },
    success() {
      failures = 0;
      openedAt = undefined;
      probeInFlight = false;
    },
    failure(call = "submit") {
      if (openedAt !== undefined) {
        // A failed probe opens the circuit for another cool-down.
        if (call === "submit") {
          probeInFlight = false;
          openedAt = clock.now();
        }
        return;
      }
      failures++;
      if (failures >= threshold) openedAt = clock.now();
    },
    get state() {
      return state();
    },
  };
}

/** Whether an upstream error says the upstream itself is unwell (not that it refused). */
function unwell(err: unknown): boolean {
  if (!(err instanceof UpstreamError)) return false;
  return err.kind === "unreachable" || err.kind === "ambiguous" || err.kind === "transient";
}

/**
 * The client, with every call's outcome reported to the breaker. Any call
 * failing counts towards opening it; only a submit answered closes it again
 * (a read of a task in flight says little about whether submits work, and
 * must not close a half-open circuit under its probe).
 */
export function observedClient(client: UpstreamClient, breaker: CircuitBreaker): UpstreamClient {
  const observe = async <T>(call: Promise<T>, submit: boolean): Promise<T> => {
    try {
      const value = await call;
      if (submit) breaker.success();
      return value;
    } catch (err) {
      if (unwell(err)) breaker.failure(submit ? "submit" : "other");
      else if (submit) breaker.success();
      throw err;
    }
  };
  return {
    submit: (credential, body) => observe(client.submit(credential, body), true),
    read: (credential, taskId) => observe(client.read(credential, taskId), false),
    download: (credential, taskId, index) =>
      observe(client.download(credential, taskId, index), false),
    close: () => client.close(),
  };
}
