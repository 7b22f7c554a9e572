// Server-sent events for `stream: true`: headers go out at once, comment lines
// keep the connection alive through proxies while the upstream works (the SDK
// ignores them), and a failure becomes an `error` event the SDK throws as an
// APIError.
import { once } from "node:events";
import { PassThrough } from "node:stream";
import type { FastifyReply } from "fastify";
import type { Clock, TimerHandle } from "../clock.js";
import { toErrorResponse } from "../errors.js";

const keepAliveMs = 15_000;

export function sendEventStream(
  reply: FastifyReply,
  clock: Clock,
  produce: () => AsyncIterable<Buffer>,
): FastifyReply {
  const stream = new PassThrough();
  let timer: TimerHandle | undefined;
  const keepAlive = () => {
    if (stream.destroyed || timer === undefined) return;
    stream.write(": keep-alive\n\n");
    timer = clock.setTimeout(keepAlive, keepAliveMs);
  };
  // A client that goes away destroys the stream: stop the keep-alive at once,
  // and let a producer waiting for "drain" go (else it would hold its open
  // file for ever).
  const gone = new AbortController();
  stream.once("close", () => {
    if (timer !== undefined) clock.clearTimeout(timer);
    gone.abort();
  });

  const run = async () => {
    stream.write(": imagegate\n\n");
    timer = clock.setTimeout(keepAlive, keepAliveMs);
    try {
      for await (const chunk of produce()) {
        if (stream.destroyed) return;
        // Keep-alive comments only while waiting: once events flow, one
        // written between the chunks of an event would corrupt it.
        if (timer !== undefined) {
          clock.clearTimeout(timer);
          timer = undefined;
        }
        if (!stream.write(chunk)) await once(stream, "drain", { signal: gone.signal });
      }
    } catch (err) {
      if (stream.destroyed) return;
      const response = toErrorResponse(err);
      if (response.status >= 500) reply.log.error({ err }, "stream failed");
      stream.write(
        `event: error\ndata: ${JSON.stringify({ type: "error", ...response.body })}\n\n`,
      );
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
      stream.end();
    }
  };

  reply
    .header("content-type", "text/event-stream; charset=utf-8")
    .header("cache-control", "no-cache")
    .header("x-accel-buffering", "no");
  void run();
  return reply.send(stream);
}
