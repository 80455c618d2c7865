/**
 * A server listening on loopback for a test, whose `close` ends every connection: node:http's and the fast
 * lane's alike (`closeAllConnections` knows only the sockets node:http parses). A test whose assertion
 * failed then ends with that failure, not waiting on a connection it left open.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface Listening {
  readonly port: number;
  close(): Promise<void>;
}

/** Listens `server` on 127.0.0.1, at a port of the kernel's choice. */
export async function listenOnLoopback(server: Server): Promise<Listening> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
