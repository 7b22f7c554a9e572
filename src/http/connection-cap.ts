// At most `max` open client connections in this process. Each one costs a
// file descriptor and buffers; past the cap a new connection is answered with
// a 503 (retry-after: 1, OpenAI's envelope) and closed, before any HTTP
// parsing, so that what it sends is never handled.
import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { FastifyBaseLogger } from "fastify";
import { gatewayError } from "../errors.js";
import { rawErrorResponse } from "./raw-error.js";

/** How long a refused connection may stay open for its client to read the answer. */
const refusedLingerMs = 2_000;

const refusal = rawErrorResponse(gatewayError("too_many_connections"));

export interface ConnectionCap {
  /** Connections open and being served now. */
  readonly open: number;
}

function refuse(socket: Socket): void {
  // A client that resets after (or before) reading the answer is no error here.
  socket.on("error", () => {});
  socket.end(refusal);
  // Read and drop what the client already sent: closing over unread bytes
  // would reset the connection, and the client could lose the answer.
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), refusedLingerMs);
  linger.unref();
  socket.once("close", () => clearTimeout(linger));
}

/**
 * Wraps the server's own 'connection' listeners (Node's HTTP parser setup
 * among them) so that a refused connection never reaches them. Install right
 * after the server is created; listeners added later see every connection.
 */
export function capConnections(
  server: Server,
  max: number,
  log: Pick<FastifyBaseLogger, "warn">,
): ConnectionCap {
  const serve = server.rawListeners("connection") as Array<(socket: Socket) => void>;
  server.removeAllListeners("connection");
  let open = 0;
  let refusing = false;
  server.on("connection", (socket: Socket) => {
    if (open >= max) {
      // Once per episode: a flood of refusals is one event, not a line each.
      if (!refusing) log.warn({ open, max }, "connection cap reached: refusing new connections");
      refusing = true;
      refuse(socket);
      return;
    }
    refusing = false;
    open += 1;
    socket.once("close", () => {
      open -= 1;
    });
    for (const listener of serve) listener.call(server, socket);
  });
  return {
    get open() {
      return open;
    },
  };
}
