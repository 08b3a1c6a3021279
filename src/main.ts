/**
 * Entry point: environment → config → build() → listen, and a clean exit on SIGTERM/SIGINT.
 * A configuration mistake prints one line naming the variable and exits 1, never a stack trace.
 */
import type { AddressInfo } from 'node:net';
import { build } from './build.js';
import { ConfigError, loadConfig } from './config.js';
import { devSignInEnabled } from './http/routes/dev.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`massenger: configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const node = await build(config);
  const { log } = node;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    node.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await node.app.listen({ port: config.port, host: config.host });
    await node.metricsApp?.listen({ port: config.metricsPort ?? 0, host: config.metricsHost });
  } catch (err) {
    // Leave nothing behind (the embedded database, this node's presence lease) before exiting.
    await node.close();
    throw err;
  }
  const url = pageUrl(config.host, (node.app.server.address() as AddressInfo).port);
  log.info(
    { url, port: config.port, host: config.host, metricsPort: config.metricsPort ?? undefined, nodeId: config.nodeId, database: config.databaseUrl === null ? 'embedded' : 'postgres', redis: config.redisUrl !== null },
    'massenger is listening',
  );
  if (devSignInEnabled(config)) {
    // The two-minute demo (README): a line for a person among the JSON log lines.
    process.stdout.write(`\nmassenger: chat in a browser at ${url} (sign in as a demo user; development keys, never for production)\n\n`);
  }
}

/** Where a browser on this machine finds the chat page: a wildcard address is reached as localhost. */
function pageUrl(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${port}/`;
}

main().catch((err: unknown) => {
  process.stderr.write(`massenger: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
