/**
 * Chat traffic for the fault suites: signed-in senders that give every SEND_MESSAGE a unique
 * clientMessageId and requestId and record what became of it (acknowledged, refused, or still
 * unanswered) with times, plus every MESSAGE_SENT each connection received; and the checks the
 * suites share against what the database holds afterwards.
 */
import { expect } from 'vitest';
import { waitUntil } from '../../scripts/support/wait.js';
import { TestClient } from '../support/client.js';
import { signToken } from '../support/node.js';

export interface SendRecord {
  clientMessageId: string;
  requestId: string;
  conversationId: string;
  content: string;
  /** Date.now() when the frame was written. */
  sentAt: number;
  /** Date.now() when its answer arrived; null while unanswered. */
  answeredAt: number | null;
  /** The sender's MESSAGE_SENT (the acknowledgement) or the ERROR answering it. */
  answer: { method: 'MESSAGE_SENT'; message: { id: string; clientMessageId: string } } | { method: 'ERROR'; code: string } | null;
}

export class ChatSender {
  readonly client: TestClient;
  readonly userId: string;
  /** Every attempt, in the order sent. */
  readonly records: SendRecord[] = [];
  /** Ids of the MESSAGE_SENT frames received, the sender's own included, per conversation, in arrival order. */
  readonly delivered = new Map<string, string[]>();
  /** Set when the connection closed; a fault suite expects it to stay open. */
  closedWith: number | null = null;
  readonly #byRequestId = new Map<string, SendRecord>();
  readonly #tag: string;
  #seq = 0;

  private constructor(client: TestClient, userId: string, tag: string) {
    this.client = client;
    this.userId = userId;
    this.#tag = tag;
    // A second parse of each frame, to stamp answers with their arrival time (TestClient keeps none).
    client.ws.on('message', (raw) => this.#receive(JSON.parse(raw.toString()) as { method: string; data: Record<string, any> }));
    client.ws.on('close', (code) => (this.closedWith = code));
  }

  /** Opens a connection to `url` and signs in as `userId`; `tag` makes its clientMessageIds unique to the run. */
  static async signIn(url: string, userId: string, tag: string): Promise<ChatSender> {
    const client = await TestClient.open(url);
    const sender = new ChatSender(client, userId, tag);
    client.send('AUTHENTICATE', { token: await signToken(userId) });
    const reply = await client.next(['INIT', 'ERROR'], () => true, 15_000);
    if (reply.method !== 'INIT') throw new Error(`sign-in of ${userId} failed: ${JSON.stringify(reply.data)}`);
    return sender;
  }

  /** Sends a new message, or again one sent before (same clientMessageId and content, new requestId). */
  send(conversationId: string, again?: Pick<SendRecord, 'clientMessageId' | 'content'>): SendRecord {
    const seq = this.#seq++;
    const clientMessageId = again?.clientMessageId ?? `${this.#tag}-${this.userId}-${seq}`;
    const record: SendRecord = {
      clientMessageId,
      requestId: `${clientMessageId}#${this.userId}-${seq}`,
      conversationId,
      content: again?.content ?? `${clientMessageId} ${'x'.repeat(40)}`,
      sentAt: Date.now(),
      answeredAt: null,
      answer: null,
    };
    this.records.push(record);
    this.#byRequestId.set(record.requestId, record);
    this.client.send('SEND_MESSAGE', { conversationId, content: record.content, clientMessageId, requestId: record.requestId });
    return record;
  }

  /** Sends not answered yet. */
  get outstanding(): number {
    return this.#byRequestId.size;
  }

  close(): void {
    this.client.close();
  }

  #receive(frame: { method: string; data: Record<string, any> }): void {
    if (frame.method === 'MESSAGE_SENT') {
      const { id, conversationId } = frame.data.message as { id: string; conversationId: string };
      const ids = this.delivered.get(conversationId) ?? [];
      ids.push(id);
      this.delivered.set(conversationId, ids);
    }
    const requestId = frame.data?.requestId as string | undefined;
    const record = requestId === undefined ? undefined : this.#byRequestId.get(requestId);
    if (record === undefined) return;
    this.#byRequestId.delete(requestId!);
    record.answeredAt = Date.now();
    record.answer = frame.method === 'MESSAGE_SENT' ? { method: 'MESSAGE_SENT', message: frame.data.message } : { method: 'ERROR', code: String(frame.data.code) };
  }
}

export interface StoredMessage {
  id: string;
  conversationId: string;
  prevId: string | null;
  clientMessageId: string | null;
}

/** The SQL that reads what StoredMessage holds, for every message of these conversations. */
export const STORED_SQL =
  'SELECT id::text, conversation_id::text AS "conversationId", prev_id::text AS "prevId", client_message_id AS "clientMessageId" FROM messages WHERE conversation_id = ANY($1::bigint[]) ORDER BY messages.id';

/** Rounds of resending before a suite counts a send as refused for good. */
const RESEND_ROUNDS = 5;

/**
 * Sends each of `sends` again with its clientMessageId through the sender given, and again while
 * the answer is UNAVAILABLE, as a client does (spec §2.4). A suite's resends leave in one burst of
 * hundreds, and on a loaded machine the node may refuse the tail of it as overload (a send that
 * waited longer than SEND_QUEUE_WAIT_MS to be stored): nothing stored, so sending it again is safe.
 * Fails on any other answer, or on a send still refused after RESEND_ROUNDS. Returns the
 * acknowledged resends, one per send, and how many rounds it took.
 */
export async function resendUntilAcked(sends: Array<{ sender: ChatSender; record: SendRecord }>, boundMs: number): Promise<{ acked: SendRecord[]; rounds: number }> {
  const acked: SendRecord[] = [];
  let pending = sends;
  let rounds = 0;
  while (pending.length > 0) {
    expect(rounds, `resends still refused after ${RESEND_ROUNDS} rounds`).toBeLessThan(RESEND_ROUNDS);
    rounds++;
    const attempts = pending.map(({ sender, record }) => ({ sender, record: sender.send(record.conversationId, record) }));
    await waitUntil(() => attempts.every((a) => a.record.answer !== null), `answers to the resends (round ${rounds})`, boundMs);
    acked.push(...attempts.filter((a) => a.record.answer?.method === 'MESSAGE_SENT').map((a) => a.record));
    pending = attempts.filter((a) => a.record.answer?.method !== 'MESSAGE_SENT');
    expect(new Set(pending.map((a) => JSON.stringify(a.record.answer))), 'resends refused').toEqual(new Set(pending.length > 0 ? ['{"method":"ERROR","code":"UNAVAILABLE"}'] : []));
  }
  return { acked, rounds };
}

/** Acknowledged sends and refused ones, over every sender. */
export function outcomes(records: SendRecord[]): { acked: SendRecord[]; refused: SendRecord[]; unanswered: SendRecord[] } {
  return {
    acked: records.filter((r) => r.answer?.method === 'MESSAGE_SENT'),
    refused: records.filter((r) => r.answer?.method === 'ERROR'),
    unanswered: records.filter((r) => r.answer === null),
  };
}

/**
 * Every acknowledged message is stored exactly once, with the id its acknowledgement gave; and
 * each conversation's messages form one prev_id chain in id order (spec §2.3 order, store/append.ts).
 */
export function expectDurableAndChained(acked: SendRecord[], stored: StoredMessage[]): void {
  const byClientId = new Map<string, StoredMessage[]>();
  for (const m of stored) if (m.clientMessageId !== null) byClientId.set(m.clientMessageId, [...(byClientId.get(m.clientMessageId) ?? []), m]);
  const lost = acked.filter((r) => byClientId.get(r.clientMessageId)?.length !== 1 || byClientId.get(r.clientMessageId)![0]!.id !== (r.answer as { message: { id: string } }).message.id);
  expect(lost.map((r) => r.clientMessageId), 'acknowledged but not stored exactly once with the acknowledged id').toEqual([]);
  const duplicated = [...byClientId].filter(([, rows]) => rows.length > 1).map(([id]) => id);
  expect(duplicated, 'stored more than once').toEqual([]);

  const last = new Map<string, string>();
  const broken: string[] = [];
  for (const m of stored) {
    if ((last.get(m.conversationId) ?? null) !== m.prevId) broken.push(`${m.id} (prev ${m.prevId}, expected ${last.get(m.conversationId) ?? null})`);
    last.set(m.conversationId, m.id);
  }
  expect(broken, 'prev_id chain').toEqual([]);
}
