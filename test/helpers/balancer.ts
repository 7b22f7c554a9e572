// A round-robin TCP load balancer for tests with replicas, as the one in front
// of a cluster: each new connection goes to the next backend, and a backend
// that refuses the connection (a dead replica) is passed over for the next.
// With one backend it is a cuttable line to a service: closing it is the
// service going away for whoever connects through it.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface Balancer {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  port: number;
  /** Stops listening and cuts every connection through it (a backend gone, as its clients see it). */
  close(): Promise<void>;
}

/** `port`: where to listen (default any free port): a balancer started again on the same port. */
export async function startBalancer(backends: readonly number[], port = 0): Promise<Balancer> {
  let next = 0;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const server: Server = createServer((client) => {
    track(client);
    client.pause();
    const attempt = (tries: number) => {
      const port = backends[next++ % backends.length] as number;
      const upstream = connect({ port, host: "127.0.0.1" });
      upstream.once("error", () => {
        upstream.destroy();
        if (tries + 1 < backends.length) attempt(tries + 1);
        else client.destroy();
      });
      upstream.once("connect", () => {
        track(upstream);
        upstream.removeAllListeners("error");
        // Either side ending or failing ends the other (a killed replica resets its clients).
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
        client.on("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  const listening = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${listening}`,
    port: listening,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
