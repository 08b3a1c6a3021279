/**
 * The composition root's one function: config → a running node that has not yet listened.
 * Each port's implementation is chosen here, once (style §2): no REDIS_URL means the in-memory
 * bus and presence; no DATABASE_URL means embedded PGlite. Tests call build() directly.
 */
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { createVerifier, signDevToken } from './auth/jwt.js';
import type { Bus } from './bus/bus.js';
import { MemoryBus } from './bus/memory.js';
import { RedisBus, redisOptions } from './bus/redis.js';
import type { Config } from './config.js';
import { Chat } from './core/chat.js';
import { Directory } from './core/directory.js';
import { Departures } from './core/departures.js';
import { createReceiver } from './core/fanout.js';
import { Hub } from './core/hub.js';
import { MembersCache } from './core/members.js';
import { Membership } from './core/membership.js';
import { MessageChanges } from './core/message-changes.js';
import { guardReceiver } from './core/receiver-guard.js';
import { Replies } from './core/replies.js';
import { Roster } from './core/roster.js';
import { SendPipeline } from './core/send-pipeline.js';
import { SignInReads } from './core/sign-in-reads.js';
import { buildApp, buildMetricsApp } from './http/app.js';
import { devSignInEnabled } from './http/routes/dev.js';
import { pageRoot } from './http/routes/page.js';
import { Metrics } from './metrics.js';
import { MemoryPresence } from './presence/memory.js';
import type { Presence } from './presence/presence.js';
import { RedisPresence } from './presence/redis.js';
import { PgDb } from './store/db-pg.js';
import { PgliteDb } from './store/db-pglite.js';
import type { Db } from './store/store.js';
import { SqlStore } from './store/sql-store.js';
import { Gateway } from './transport/gateway.js';

/**
 * The database the config names: PostgreSQL at DATABASE_URL, or the embedded one in DATA_DIR.
 * @param options.onError a PostgreSQL connection was lost while idle
 * @param options.pgliteTemplate a new embedded database starts as a copy of this one (PgliteDb's `template`)
 */
export function openDb(config: Config, options: { onError?: (err: Error) => void; pgliteTemplate?: string } = {}): Db {
  const { onError, pgliteTemplate } = options;
  if (config.databaseUrl === null) return new PgliteDb({ dataDir: config.dataDir, template: pgliteTemplate });
  return new PgDb({
    connectionString: config.databaseUrl,
    maxConnections: config.dbPoolSize,
    connectionTimeoutMs: config.dbConnectTimeoutMs,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    ...(onError === undefined ? {} : { onError }),
  });
}

/** How long start-up waits for Redis to confirm subscriptions before serving without it. */
const REDIS_START_WAIT_MS = 3000;
/** Lifetime of a development sign-in token; the page's client asks for a fresh one before it ends. */
const DEV_TOKEN_TTL_S = 3600;

export interface Node {
  app: FastifyInstance;
  /** With METRICS_PORT, the metrics-only app for main.ts to listen on (METRICS_HOST); else null. */
  metricsApp: FastifyInstance | null;
  log: Logger;
  /** Closes sockets with 1001, finishes work in flight, then closes bus, presence and database. */
  close(): Promise<void>;
}

/**
 * @param opts.db a database to use instead of the one config names (tests share it for fixtures);
 *   the node closes it either way.
 */
export async function build(config: Config, opts: { logger?: Logger; db?: Db } = {}): Promise<Node> {
  const log = opts.logger ?? pino({ level: config.logLevel });
  const metrics = new Metrics();

  const db = opts.db ?? openDb(config, { onError: (err) => log.warn({ err }, 'database connection lost') });
  const store = new SqlStore(db, { onQuery: (operation, seconds) => metrics.storeSeconds.observe({ operation }, seconds) });
  const closers: Array<() => Promise<void>> = [() => store.close()];
  const closeAll = async () => {
    for (const close of [...closers].reverse()) await close().catch((err: unknown) => log.warn({ err }, 'close failed'));
  };

  try {
    await store.migrate();
    // Under way while the rest starts, and done before the node listens (store.ts says why).
    const warmedUp = store.warmUp().catch((err: unknown) => log.warn({ err }, 'could not open and warm every database connection; serving with the others'));
    const verifier = await createVerifier(config, { warn: (msg) => log.warn(msg) });

    let bus: Bus;
    let presence: Presence;
    let redis: Redis | null = null;
    /** For /metrics: whether this node counts itself alone (bus/solo.ts). */
    let busAlone = () => false;
    if (config.redisUrl === null) {
      bus = new MemoryBus();
      presence = new MemoryPresence();
    } else {
      // Commands fail fast while Redis is away instead of queueing (the bus and presence fall back locally).
      redis = new Redis(config.redisUrl, { ...redisOptions, lazyConnect: true });
      redis.on('error', (err) => log.debug({ err }, 'redis error'));
      await redis.connect().catch((err: unknown) => log.warn({ err }, 'redis is not reachable yet; serving locally until it is'));
      const redisPresence = new RedisPresence({ redis, nodeId: config.nodeId, log });
      await redisPresence.start();
      presence = redisPresence;
      const redisBus = new RedisBus({ pub: redis, locate: (userIds) => redisPresence.nodesHolding(userIds), solo: redisPresence, nodeId: config.nodeId, log });
      // Subscribed before listening, so no client misses an event addressed to this node; but a
      // node whose Redis is down still starts and serves locally (the subscription follows later).
      await Promise.race([redisBus.start(), new Promise((resolve) => setTimeout(resolve, REDIS_START_WAIT_MS).unref())]);
      bus = redisBus;
      busAlone = () => redisBus.solo;
    }
    const redisClient = redis;
    closers.push(async () => {
      await presence.close();
      await bus.close();
      if (redisClient !== null) await redisClient.quit().catch(() => redisClient.disconnect());
    });

    const hub = new Hub();
    const members = new MembersCache({
      store,
      maxEntries: config.membersCacheSize,
      ttlMs: config.membersCacheTtlMs,
    });
    // A leave silences the user here as soon as its MEMBERS_CHANGED arrives (departures.ts).
    const departures = new Departures({ members, staleListMs: config.membersCacheTtlMs });
    // Every node hears every membership change from the database itself, whoever made it.
    const stopWatching = await store.watchMembers({
      changed: (conversationId) => {
        members.invalidate(conversationId);
        departures.changed(conversationId);
      },
      reset: () => members.clear(),
    });
    closers.push(stopWatching);
    const reads = new SignInReads(store);
    const roster = new Roster({ hub, presence, store, reads, bus, log });
    const sends = new SendPipeline({
      store,
      bus,
      nodeId: config.nodeId,
      options: { maxBatch: config.sendBatchMax, maxQueued: config.sendQueueMax, maxWaitMs: config.sendQueueWaitMs },
      onBatch: (size) => metrics.appendBatchSize.observe(size),
    });
    const replies = new Replies();
    const changes = new MessageChanges({ store, bus, members, replies });
    const membership = new Membership({ store, bus, members });
    const chat = new Chat({ store, bus, presence, hub, roster, members, verifier, reads, sends, changes });
    const directory = new Directory({ store, bus, presence });
    bus.subscribe(guardReceiver(createReceiver({ hub, nodeId: config.nodeId, log }), { departures, replies, hub }));

    const checks = [{ name: 'database', ping: () => store.ping() }];
    if (redisClient !== null) checks.push({ name: 'redis', ping: () => bus.ping() });
    // A node that is shutting down is not ready, so balancers stop sending it clients first.
    checks.push({
      name: 'gateway',
      ping: async () => {
        if (!gateway.accepting) throw new Error('shutting down');
      },
    });
    const beforeScrape = () => {
      metrics.onlineUsers.set(hub.userCount);
      metrics.busAlone.set(busAlone() ? 1 : 0);
    };
    const scrape = { metrics, metricsToken: config.metricsToken, beforeScrape };
    const app = buildApp({
      directory,
      changes,
      membership,
      verifier,
      checks,
      internalApiToken: config.internalApiToken,
      ...scrape,
      serveMetrics: config.metricsPort === null,
      pageRoot: pageRoot(),
      // Without a configured key the node signs its own tokens, so the demo page can sign people in.
      devSignIn: devSignInEnabled(config) ? { db, signToken: (userId) => signDevToken(config, userId, DEV_TOKEN_TTL_S) } : null,
      logger: log,
    });
    const metricsApp = config.metricsPort === null ? null : buildMetricsApp({ ...scrape, logger: log });
    if (metricsApp !== null) closers.push(() => metricsApp.close());
    const gateway = new Gateway({
      server: app.server,
      chat,
      metrics,
      log,
      options: {
        authTimeoutMs: config.authTimeoutMs,
        maxFrameBytes: config.maxFrameBytes,
        maxBufferedBytes: config.maxBufferedBytes,
        slowReaderGraceMs: config.slowReaderGraceMs,
        maxConnections: config.maxConnections,
        maxConnectionsPerUser: config.maxConnectionsPerUser,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        rateLimitPerSec: config.rateLimitPerSec,
        rateLimitBurst: config.rateLimitBurst,
        rateLimitStrikes: config.rateLimitStrikes,
        shutdownTimeoutMs: config.shutdownTimeoutMs,
      },
    });
    // Closed in reverse: the gateway first (readiness off, frames in flight answered, then 1001),
    // then the work they started, then HTTP, bus, store.
    closers.push(async () => {
      await gateway.close();
      await chat.idle();
      await roster.idle();
      await app.close();
    });
    await app.ready();
    await metricsApp?.ready();
    await warmedUp;

    let closing: Promise<void> | null = null;
    return { app, metricsApp, log, close: () => (closing ??= closeAll()) };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
