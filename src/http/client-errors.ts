// How long a client may take to send its request, and the answer to one that
// breaks the protocol or runs out of time before Fastify ever sees a request.
//
// Node's requestTimeout covers *receiving* a request, headers and body, from
// its first byte to its last (the parser stops tracking it at message
// complete, on Node 20 and 24 alike): a synchronous generation whose response
// takes minutes is not cut by it, a client that trickles its body is. Node
// only looks every connectionsCheckingInterval (30 s by default), which would
// let a 1 s timeout last 31 s; the interval is kept proportionate instead.
import type { Socket } from "node:net";
import type { FastifyBaseLogger } from "fastify";
import { type GatewayError, gatewayError } from "../errors.js";
import { rawErrorResponse } from "./raw-error.js";

/** Fastify server options (and Node's, under `http`) that bound receiving a request. */
export interface ReceiveTimeouts {
  requestTimeout: number;
  http: { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number };
}

export function receiveTimeouts(bodyTimeoutMs: number): ReceiveTimeouts {
  return {
    // Fastify sets server.requestTimeout from its own option after creating the server.
    requestTimeout: bodyTimeoutMs,
    http: {
      requestTimeout: bodyTimeoutMs,
      // Node refuses headersTimeout > requestTimeout; the headers are part of the request.
      headersTimeout: bodyTimeoutMs,
      connectionsCheckingInterval: Math.min(Math.ceil(bodyTimeoutMs / 4), 30_000),
    },
  };
}

function refusalFor(code: string | undefined, bodyTimeoutMs: number): GatewayError {
  switch (code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return gatewayError("request_timeout", { ms: bodyTimeoutMs });
    case "HPE_HEADER_OVERFLOW":
      return gatewayError("request_headers_too_large");
    default:
      return gatewayError("invalid_request", { detail: "The request is not valid HTTP." });
  }
}

/**
 * Fastify's clientErrorHandler: answers with the OpenAI error envelope where
 * Fastify's default would answer its own shape, and closes the connection.
 */
export function clientErrorHandler(bodyTimeoutMs: number) {
  return function answerClientError(
    this: { log?: FastifyBaseLogger } | undefined,
    err: Error & { code?: string },
    socket: Socket,
  ): void {
    // A reset connection has nobody left to answer.
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const refusal = refusalFor(err.code, bodyTimeoutMs);
    this?.log?.debug({ code: err.code }, refusal.message);
    // As Node's own handler: never write into a response that has begun.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) socket.write(rawErrorResponse(refusal));
    // At once, not after a graceful end: the parser is still reading, and a
    // request that completed now would be dispatched after its refusal.
    socket.destroy();
  };
}
