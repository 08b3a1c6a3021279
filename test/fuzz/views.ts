/**
 * Server frames as the fuzzers compare them: each reduced to what the contract lets a test
 * predict (a View), next to the prediction it must equal (Expected).
 */

/** A server frame reduced to what the contract lets a test predict. */
export type View = Record<string, unknown> & { method: string };

/** A predicted frame; a MESSAGES answer is checked against the page it was asked for. */
export interface Expected {
  view: View;
  page?: Page;
  /** The sender's MESSAGE_SENT of a new message: its id goes to `World.learn`. */
  creates?: true;
}

/** A FETCH_MESSAGES request, and the messages of its conversation as they stood when it was handled. */
export interface Page {
  conversationId: string;
  limit: number;
  before: bigint | null;
  known: ReadonlyMap<string, string>;
}

/**
 * A server frame as a View to compare with the prediction. A MESSAGES answer is checked against
 * its page: its conversation, at most `limit` messages below `before`, oldest first, those the
 * world knew as they were then, and no `hasMore` on a short page.
 */
export function viewOf(frame: { method: string; data: Record<string, any> }, page?: Page): View {
  const d = frame.data ?? {};
  const tags = (view: View): View => {
    if (d.requestId !== undefined) view.requestId = d.requestId;
    return view;
  };
  const message = (m: Record<string, any>) => ({
    id: m.id,
    conversationId: m.conversationId,
    author: m.author,
    content: m.content,
    clientMessageId: m.clientMessageId,
    deleted: m.deletedAt !== null,
  });
  switch (frame.method) {
    case 'ERROR': {
      const view: View = { method: 'ERROR', code: d.code };
      if (d.method !== undefined) view.for = d.method;
      if (d.clientMessageId !== undefined) view.clientMessageId = d.clientMessageId;
      return tags(view);
    }
    case 'PONG':
      return tags({ method: 'PONG' });
    case 'INIT':
      return { method: 'INIT', userId: d.userId, missed: Array.isArray(d.missedMessages) };
    case 'MESSAGE_SENT':
    case 'MESSAGE_EDITED':
    case 'MESSAGE_DELETED':
      return tags({ method: frame.method, message: message(d.message) });
    case 'MESSAGES':
      return tags({ method: 'MESSAGES', conversationId: d.conversationId, page: page === undefined ? 'unasked' : pageProblem(d, page) ?? 'ok' });
    case 'CONVERSATION_SEEN':
    case 'TYPING':
      return { method: frame.method, conversationId: d.conversationId, userId: d.userId };
    case 'MEMBERS_CHANGED':
      // Who joined or left is a set: its order is not part of the contract.
      return { method: frame.method, conversationId: d.conversationId, added: [...d.added].sort(), removed: [...d.removed].sort(), by: d.by };
    default:
      return { method: frame.method, data: d };
  }
}

function pageProblem(d: Record<string, any>, page: Page): string | null {
  const messages = d.messages as Array<Record<string, any>>;
  if (!Array.isArray(messages) || typeof d.hasMore !== 'boolean') return 'not {messages, hasMore}';
  if (messages.length > page.limit) return `${messages.length} messages for limit ${page.limit}`;
  if (messages.length < page.limit && d.hasMore) return 'hasMore on a short page';
  let previous = 0n;
  for (const m of messages) {
    const id = BigInt(m.id);
    if (id <= previous) return 'not oldest first';
    previous = id;
    if (page.before !== null && id >= page.before) return `message ${m.id} is not before ${page.before}`;
    if (m.conversationId !== page.conversationId) return `message ${m.id} is from conversation ${m.conversationId}`;
    const known = page.known.get(m.id);
    if (known !== undefined && known !== JSON.stringify({ id: m.id, conversationId: m.conversationId, author: m.author, content: m.content, clientMessageId: m.clientMessageId, deleted: m.deletedAt !== null })) {
      return `message ${m.id} is not as stored: ${JSON.stringify(m)}`;
    }
  }
  return null;
}
