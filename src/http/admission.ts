// The HTTP side of admission (generation/admission.ts): the caller as a plain
// value read from the request, and the reply as the small handle that retry
// joining needs (has the client gone; did a 2xx answer go out).
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Caller, ResponseHandle } from "../generation/admission.js";
import { tenantOf } from "./auth.js";

function retryCountOf(request: FastifyRequest): number {
  const value = Number(request.headers["x-stainless-retry-count"]);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

export function callerOf(request: FastifyRequest): Caller {
  return {
    tenant: tenantOf(request),
    idempotencyKey: request.headers["idempotency-key"],
    retryCount: retryCountOf(request),
    takeSlot: () => request.intake?.takeSlot(),
  };
}

export function responseHandle(reply: FastifyReply): ResponseHandle {
  return {
    get closed() {
      return reply.raw.closed;
    },
    onFinish(listener) {
      reply.raw.once("finish", () => listener(reply.statusCode < 300));
    },
    onClose(listener) {
      reply.raw.once("close", listener);
    },
  };
}
