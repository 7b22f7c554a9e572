// Injected faults: what a flaky upstream or network does to one request.
// Faults queue per route and are consumed in order, so a test can script
// "the first two reads fail, then it works".

/** The async API's three routes, and "images": the synchronous OpenAI-style calls. */
export type SimRoute = "submit" | "read" | "download" | "images";

export interface Fault {
  route: SimRoute;
  /** How many matching requests it applies to; default 1. */
  times?: number;
  /** Answer with this status (default 200 when only a body is given) … */
  status?: number;
  /** … and this JSON body, */
  body?: unknown;
  /** … or this text, e.g. "<html>bad gateway" for an answer that is not JSON. */
  rawBody?: string;
  /** Added to the fault's answer, or to the normal answer when it gives none. */
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Drop the connection without an answer. */
  destroy?: boolean;
  /**
   * Do the real work first (e.g. create the task), then delay, drop, or answer
   * with the fault: "the submit reached the upstream but the answer was lost".
   */
  passThrough?: boolean;
}

export interface FaultAnswer {
  status: number;
  body: string;
  headers: Record<string, string>;
}

export class FaultQueue {
  private readonly queues: Record<SimRoute, Fault[]> = {
    submit: [],
    read: [],
    download: [],
    images: [],
  };

  push(fault: Fault): void {
    if ((fault.times ?? 1) > 0) this.queues[fault.route].push({ ...fault });
  }

  /** The fault for the next request on `route`, if any; counts it as used. */
  take(route: SimRoute): Fault | undefined {
    const queue = this.queues[route];
    const fault = queue[0];
    if (!fault) return undefined;
    const left = (fault.times ?? 1) - 1;
    if (left <= 0) queue.shift();
    else fault.times = left;
    return fault;
  }
}

/** The answer a fault replaces the real one with, or undefined if it only delays/drops. */
export function faultAnswer(fault: Fault): FaultAnswer | undefined {
  if (fault.status === undefined && fault.body === undefined && fault.rawBody === undefined) {
    return undefined;
  }
  const raw = fault.rawBody !== undefined;
  const body = raw ? (fault.rawBody as string) : JSON.stringify(fault.body ?? {});
  return {
    status: fault.status ?? 200,
    body,
    headers: {
      "content-type": raw ? "text/html; charset=utf-8" : "application/json",
      ...fault.headers,
    },
  };
}
