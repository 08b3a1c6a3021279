/**
 * Every Prometheus metric of a node (spec §3 `GET /metrics`), in one place so names stay
 * consistent and each is documented once. Each Metrics owns its Registry instead of using
 * prom-client's global one, so several servers in one test process do not clash.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const PREFIX = 'massenger_';

/**
 * A node's metrics. Components receive the instance and update the fields they own; the HTTP
 * layer serves `text()` with `contentType`.
 */
export class Metrics {
  readonly registry = new Registry();
  /** Open WebSocket connections on this node, authenticated or not. */
  readonly connections: Gauge;
  /** Users with at least one authenticated connection on this node. */
  readonly onlineUsers: Gauge;
  /** Client frames received, by `method` (`BAD_FRAME` for undecodable ones). */
  readonly framesIn: Counter<'method'>;
  /** Frames sent, by `method`; a fan-out counts once per recipient connection. */
  readonly framesOut: Counter<'method'>;
  /**
   * Counts one frame out. A fan-out counts every recipient, and prom-client hashes and checks the
   * label object on every inc (a label child too), so the counts wait here, by method, and are
   * added to framesOut when it is read (its collect).
   */
  readonly countFrameOut = (method: string): void => {
    this.#framesOutPending.set(method, (this.#framesOutPending.get(method) ?? 0) + 1);
  };
  readonly #framesOutPending = new Map<string, number>();
  /** Errors answered, by spec §2.4 `code`, on WebSocket and HTTP alike. */
  readonly errors: Counter<'code'>;
  /** Store latency in seconds, by `operation` (`append_messages` stores a batch of messages; also `conversations`, `messages`, ...). */
  readonly storeSeconds: Histogram<'operation'>;
  /** Messages per group commit (one transaction stores a batch of sends). */
  readonly appendBatchSize: Histogram;
  /** Connections the server closed, by close `code` (4401, 4408, 4429, 1009, 1001). */
  readonly closes: Counter<'code'>;
  /** 1 while this node is the only one and routes nothing through Redis (bus/solo.ts), else 0. */
  readonly busAlone: Gauge;

  /** @param options.defaultMetrics collect Node's process metrics too (default true). */
  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.connections = new Gauge({ name: `${PREFIX}connections`, help: 'Open WebSocket connections on this node', registers });
    this.onlineUsers = new Gauge({
      name: `${PREFIX}online_users`,
      help: 'Users with an authenticated connection on this node',
      registers,
    });
    this.framesIn = new Counter({
      name: `${PREFIX}frames_in_total`,
      help: 'WebSocket frames received, by method',
      labelNames: ['method'],
      registers,
    });
    const framesOutPending = this.#framesOutPending;
    this.framesOut = new Counter({
      name: `${PREFIX}frames_out_total`,
      help: 'WebSocket frames sent, by method',
      labelNames: ['method'],
      registers,
      collect() {
        for (const [method, count] of framesOutPending) this.inc({ method }, count);
        framesOutPending.clear();
      },
    });
    this.errors = new Counter({
      name: `${PREFIX}errors_total`,
      help: 'Errors answered, by code',
      labelNames: ['code'],
      registers,
    });
    this.storeSeconds = new Histogram({
      name: `${PREFIX}store_seconds`,
      help: 'Store operation latency in seconds, by operation (append_messages stores a batch of messages)',
      labelNames: ['operation'],
      // 0.5 ms (an embedded or local query) up to 1 s (a struggling database); slower lands in +Inf.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.appendBatchSize = new Histogram({
      name: `${PREFIX}append_batch_size`,
      help: 'Messages stored per transaction (group commit)',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers,
    });
    this.closes = new Counter({
      name: `${PREFIX}closes_total`,
      help: 'WebSocket connections closed by the server, by close code',
      labelNames: ['code'],
      registers,
    });
    this.busAlone = new Gauge({
      name: `${PREFIX}bus_alone`,
      help: '1 while this node is the only one registered in Redis and routes nothing through it',
      registers,
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
  }

  /** The Content-Type header for `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** All metrics in the Prometheus text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
