/** Free TCP ports on loopback, for the processes the benchmark and the tests start. */
import net from 'node:net';

/** A port nothing listens on right now (the OS picks it; it may be taken again before use). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
