/**
 * Sending a message, from a member's SEND_MESSAGE to every member's MESSAGE_SENT. This is where a
 * node keeps spec §2.3's promises on its side, read top to bottom:
 *
 * 1. DURABLE BEFORE HEARD. A send waits in one queue per node; whatever accumulates while a batch
 *    is being committed becomes the next batch (group commit: one transaction for many messages,
 *    without a timer when idle). Nobody hears of a message before its batch committed; the
 *    sender's own MESSAGE_SENT (it carries requestId) is the acknowledgement.
 * 2. ORDER. The store gives each conversation's messages increasing ids and a prev_id chain
 *    (store/append.ts). One batch is stored at a time on a node (the next one is handed to the
 *    store once this one committed, while this one is published), and the bus is handed the
 *    messages of a batch synchronously, in input order, before the next batch's outcome is known:
 *    so this node publishes each conversation's messages in stored order. Across nodes, the bus
 *    restores that order from prevId (bus.ts: MemoryBus trivially, RedisBus with its order gate).
 * 3. IDEMPOTENCY. A clientMessageId already used by the author stores nothing and answers the
 *    sender alone with the original (the store decides, for the whole batch at once).
 * 4. OVERLOAD IS EXPLICIT. The queue is bounded in length and in age: a send that finds it full,
 *    or that has waited longer than `maxWaitMs` since its frame arrived, is refused with
 *    UNAVAILABLE and nothing is stored, so every SEND_MESSAGE is answered promptly and memory stays
 *    bounded; the client sends it again (with the same clientMessageId, without risk).
 * 5. FAILURE. A batch that cannot be committed fails every send in it with the store's error
 *    (UNAVAILABLE when the database is away) and nothing of it is stored.
 */
import type { Bus } from '../bus/bus.js';
import { AppError } from '../errors.js';
import { encode, withRequestIdText } from '../protocol/codec.js';
import type { AppendMessageInput, AppendOutcome, AppendResult, Store } from '../store/store.js';
import type { Client } from './chat.js';
import { toMessage } from './views.js';

/** A predecessor stored less than this before its successor may still be being published (bus ordering). */
const PREDECESSOR_IN_FLIGHT_MS = 2000;

export interface SendPipelineOptions {
  /** Most messages in one batch (one transaction). */
  maxBatch: number;
  /** Most sends waiting for a batch; more are refused with UNAVAILABLE. */
  maxQueued: number;
  /** A send whose frame arrived longer ago than this when its batch forms is refused with UNAVAILABLE. */
  maxWaitMs: number;
}

export interface SendRequest {
  client: Client;
  input: AppendMessageInput;
  requestId: string | undefined;
  /** Member ids of the conversation, read when the send was accepted. */
  members: string[];
  /** When the frame arrived (performance.now() ms), for the age bound. */
  receivedAt: number;
}

interface Pending extends SendRequest {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface SendPipelineDeps {
  store: Pick<Store, 'appendMessages'>;
  bus: Pick<Bus, 'publish'>;
  nodeId: string;
  options: SendPipelineOptions;
  /** Called with each batch's size, for metrics. */
  onBatch?: (size: number) => void;
  now?: () => number;
}

export class SendPipeline {
  readonly #d: SendPipelineDeps;
  readonly #now: () => number;
  #queue: Pending[] = [];
  /** The loop storing batches, while there is anything to store. */
  #draining: Promise<void> | null = null;
  /** Publishes handed to the bus and not yet finished; idle() waits for them. */
  readonly #publishing = new Set<Promise<void>>();

  constructor(deps: SendPipelineDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => performance.now());
  }

  /** Resolves once the message is stored and handed to the bus; rejects with the AppError to answer. */
  send(request: SendRequest): Promise<void> {
    const { maxQueued, maxWaitMs } = this.#d.options;
    if (this.#queue.length >= maxQueued || this.#now() - request.receivedAt > maxWaitMs) return Promise.reject(overloaded());
    return new Promise<void>((resolve, reject) => {
      const { client, input, requestId, members, receivedAt } = request;
      this.#queue.push({ client, input, requestId, members, receivedAt, resolve, reject });
      this.#draining ??= this.#drain().finally(() => (this.#draining = null));
    });
  }

  /** Resolves when every send accepted so far has been stored (or refused) and published. */
  async idle(): Promise<void> {
    while (this.#draining !== null || this.#publishing.size > 0) {
      await this.#draining;
      await Promise.all(this.#publishing);
    }
  }

  async #drain(): Promise<void> {
    let storing = this.#storeNext();
    while (storing !== null) {
      const { batch, stored } = storing;
      let outcomes;
      try {
        outcomes = await stored;
      } catch (err) {
        for (const p of batch) p.reject(err);
        storing = this.#storeNext();
        continue;
      }
      // The next batch goes to the database before this one goes to the bus, so the database
      // stores it while this node fans this one out. Order holds: its outcomes come in a later
      // turn of the event loop, after every message of this batch is on the bus. pg's pool hands a
      // query to its connection in a process.nextTick, which waiting one tick lets go first.
      storing = this.#storeNext();
      if (storing !== null) await new Promise<void>((resolve) => process.nextTick(resolve));
      // Synchronously, in input order: this is the order the bus receives (header, point 2).
      batch.forEach((p, i) => {
        const outcome = outcomes[i];
        if (outcome === undefined || outcome instanceof AppError) p.reject(outcome ?? new AppError('INTERNAL', 'no outcome'));
        else this.#settle(p, this.#publish(p, outcome));
      });
    }
  }

  /** Takes the next batch and hands it to the store; null when nothing waits. */
  #storeNext(): { batch: Pending[]; stored: Promise<AppendOutcome[]> } | null {
    while (this.#queue.length > 0) {
      const batch = this.#takeBatch();
      if (batch.length === 0) continue;
      this.#d.onBatch?.(batch.length);
      const stored = this.#d.store.appendMessages(batch.map((p) => p.input));
      // Awaited once the batch before it is published; a failure meanwhile is not unhandled.
      stored.catch(() => {});
      return { batch, stored };
    }
    return null;
  }

  /** The next batch, oldest first; sends that waited too long are refused on the way (header, point 4). */
  #takeBatch(): Pending[] {
    const oldest = this.#now() - this.#d.options.maxWaitMs;
    const batch: Pending[] = [];
    let taken = 0;
    while (taken < this.#queue.length && batch.length < this.#d.options.maxBatch) {
      const p = this.#queue[taken++] as Pending;
      if (p.receivedAt < oldest) p.reject(overloaded());
      else batch.push(p);
    }
    this.#queue = this.#queue.slice(taken);
    return batch;
  }

  #publish(p: Pending, result: AppendResult): Promise<void> {
    const row = result.message;
    // Encoded once, whatever the number of members (style §7); the sender's copy adds its requestId.
    const text = encode({ method: 'MESSAGE_SENT', data: { message: toMessage(row) } });
    const senderText = withRequestIdText(text, p.requestId);
    if (!result.created) {
      // Spec §2.3: a repeated clientMessageId stores nothing and answers the sender alone.
      p.client.send(senderText, 'MESSAGE_SENT');
      return Promise.resolve();
    }
    const prevCreatedAt = result.prevCreatedAt;
    return this.#d.bus.publish({
      type: 'message',
      conversationId: row.conversationId,
      messageId: row.id,
      prevId: row.prevId,
      prevInFlight: prevCreatedAt !== null && row.createdAt.getTime() - prevCreatedAt.getTime() < PREDECESSOR_IN_FLIGHT_MS,
      // Who the members were when it was stored (a member added a moment ago included), not the
      // list read when the send was accepted.
      userIds: result.members ?? p.members,
      text,
      origin: { nodeId: this.#d.nodeId, connectionId: p.client.id, text: senderText },
    });
  }

  #settle(p: Pending, publishing: Promise<void>): void {
    this.#publishing.add(publishing);
    publishing.then(p.resolve, p.reject).finally(() => this.#publishing.delete(publishing));
  }
}

function overloaded(): AppError {
  return new AppError('UNAVAILABLE', 'the server is overloaded; nothing was stored, send again');
}
