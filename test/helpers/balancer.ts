// A round-robin TCP load balancer for tests with replicas, as the one in front
// of a cluster: each new connection goes to the next backend, and a backend
// that refuses the connection (a dead replica) is passed over for the next.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface Balancer {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  close(): Promise<void>;
}

export async function startBalancer(backends: readonly number[]): Promise<Balancer> {
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
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
