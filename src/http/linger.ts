// Closing a connection whose request body is still arriving (a refused upload)
// without losing the answer. Node ends such a connection with destroySoon():
// it closes the socket as soon as the answer is written, and the client,
// still sending, is then reset by the kernel, often before it has read the
// answer: the OpenAI SDK sees EPIPE or ECONNRESET instead of a 413 and retries.
// A lingering close (as nginx does) half-closes instead, reads and drops what
// the client still sends for a short while, then closes for good.
import type { Socket } from "node:net";

/** Longest a refused client may keep sending before its connection is cut. */
const lingerMs = 2_000;

/** Makes the next close of `socket` (after the answer) a lingering one. */
export function lingerOnClose(socket: Socket): void {
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    socket.end();
    // What the client still sends is read and dropped, never kept.
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once("end", () => socket.destroy());
    socket.once("close", () => clearTimeout(timer));
  };
}
