// Closing a connection whose request body is still arriving (a refused upload)
// without losing the answer. Node ends such a connection with destroySoon():
// it closes the socket as soon as the answer is written, and the client,
// still sending, is then reset by the kernel, often before it has read the
// answer: the OpenAI SDK sees EPIPE or ECONNRESET instead of a 413 and retries.
// A lingering close (as nginx does) half-closes instead, reads and drops what
// the client still sends for a short while, then closes for good.
import type { IncomingMessage } from "node:http";

/** Longest a refused client may keep sending before its connection is cut. */
const lingerMs = 2_000;

/** Makes the close of `request`'s connection (after the answer) a lingering one. */
export function lingerOnClose(request: IncomingMessage): void {
  const socket = request.socket;
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    socket.end();
    // What the client still sends is read and dropped, never kept: the body
    // is taken from a form parser that gave up on it, and let flow.
    request.unpipe();
    request.resume();
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once("end", () => socket.destroy());
    socket.once("close", () => clearTimeout(timer));
  };
}
