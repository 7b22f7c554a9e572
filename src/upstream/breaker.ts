// Circuit breakers in front of new submits, one per channel (an upstream
// account: a tenant's own failing key must not stop everyone else): when calls
// through a channel keep failing
// (connections refused, timeouts, 5xx — on any call, with no submit answered
// in between), new requests fail at
// once with a 503 and retry-after instead of piling up behind a dead upstream.
// After a cool-down one submit is let through as a probe; its success closes
// the circuit. Reads of tasks already submitted are not stopped: those tasks
// are paid for, and the poller has its own backoff.
import type { Clock } from "../clock.js";
import type { UpstreamClient } from "../providers/async/client.js";
import { UpstreamError } from "../providers/failures.js";

export interface CircuitBreaker {
  /** Undefined when a submit may go ahead; else how long until it may be tried. */
  blockedForMs(): number | undefined;
  /** Marks the probe submit as taken (half-open: one at a time). */
  probing(): void;
  /** The probe never reached the upstream (a local failure): the next submit may probe. */
  abandonProbe(): void;
  success(): void;
  /**
   * A call found the upstream unwell. Any call counts towards opening the
   * circuit; once open, only a failed submit (the probe) keeps it open longer,
   * since reads of tasks already in flight go on regardless.
   */
  failure(call?: "submit" | "other"): void;
  readonly state: "closed" | "open" | "half-open";
  /** Closed with no failure counted: nothing to remember. */
  readonly idle: boolean;
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
    abandonProbe() {
      probeInFlight = false;
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
    get idle() {
      return failures === 0 && openedAt === undefined;
    },
  };
}

/** The breakers of every channel in use, by channel id. */
export interface BreakerRegistry {
  /** The breaker for one channel, made on first use. */
  of(key: string): CircuitBreaker;
  /** The breaker if it has anything to remember (else it is closed). */
  peek(key: string): CircuitBreaker | undefined;
  /** Undefined while submits through this channel may go out; else how long until they may. */
  blockedForMs(key: string): number | undefined;
  /** Marks the probe submit through this channel as taken (when its circuit is half-open). */
  probing(key: string): void;
  /** The probe through this channel did not reach the upstream. */
  abandonProbe(key: string): void;
  /** How many channels have a breaker that is counting failures or open. */
  readonly tracked: number;
}

export interface BreakerRegistryOptions extends BreakerOptions {
  /** A channel's circuit opened (its submits stop) or closed again: for the logs. */
  onChange?: (key: string, change: "opened" | "closed") => void;
}

export function createBreakerRegistry(options: BreakerRegistryOptions): BreakerRegistry {
  const breakers = new Map<string, CircuitBreaker>();
  const registry: BreakerRegistry = {
    of(key) {
      let breaker = breakers.get(key);
      if (breaker === undefined) {
        const fresh = createCircuitBreaker(options);
        // Forget a breaker as soon as it has nothing to remember, so that
        // tenants' private channels that come and go do not accumulate.
        const success = fresh.success.bind(fresh);
        const failure = fresh.failure.bind(fresh);
        breaker = Object.assign(fresh, {
          success() {
            const wasOpen = fresh.state !== "closed";
            success();
            breakers.delete(key);
            if (wasOpen) options.onChange?.(key, "closed");
          },
          failure(call?: "submit" | "other") {
            const wasClosed = fresh.state === "closed";
            failure(call);
            if (wasClosed && fresh.state !== "closed") options.onChange?.(key, "opened");
          },
        });
        breakers.set(key, breaker);
      }
      return breaker;
    },
    peek: (key) => breakers.get(key),
    blockedForMs(key) {
      return breakers.get(key)?.blockedForMs();
    },
    probing(key) {
      breakers.get(key)?.probing();
    },
    abandonProbe(key) {
      breakers.get(key)?.abandonProbe();
    },
    get tracked() {
      return breakers.size;
    },
  };
  return registry;
}

/** Whether an upstream error says the upstream itself is unwell (not that it refused). */
function unwell(err: unknown): boolean {
  if (!(err instanceof UpstreamError)) return false;
  return err.kind === "unreachable" || err.kind === "ambiguous" || err.kind === "transient";
}

/**
 * The client of one channel, with every call's outcome reported to its breaker.
 * Any call failing counts towards opening it; only a submit answered closes it
 * again (a read of a task in flight says little about whether submits work,
 * and must not close a half-open circuit under its probe). A failure of the
 * gateway's own making (kind "local") says nothing about the upstream.
 */
export function observedClient(
  client: UpstreamClient,
  breakers: BreakerRegistry,
  key: string,
): UpstreamClient {
  const observe = async <T>(call: Promise<T>, submit: boolean): Promise<T> => {
    try {
      const value = await call;
      if (submit) breakers.of(key).success();
      return value;
    } catch (err) {
      const local = err instanceof UpstreamError && err.kind === "local";
      if (unwell(err)) breakers.of(key).failure(submit ? "submit" : "other");
      // A submit that never left the gateway says nothing either way; if it
      // was the probe, the next submit probes instead (else the circuit
      // would stay half-open with a probe that never ends).
      else if (local) breakers.abandonProbe(key);
      else if (submit) breakers.of(key).success();
      throw err;
    }
  };
  return {
    submit: (credential, body) => observe(client.submit(credential, body), true),
    read: (credential, taskId) => observe(client.read(credential, taskId), false),
    download: (credential, taskId, index) =>
      observe(client.download(credential, taskId, index), false),
  };
}
