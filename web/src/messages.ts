/**
 * The message list of one conversation, updated in place: each row is rebuilt only when what it
 * shows changed (ChatState replaces a message object on every new version), so scrolling and
 * focus survive live traffic.
 */
import type { Id, Message } from 'massenger/client';
import { h, shortTime } from './dom.js';

/** A send the server has not acknowledged yet (the client writes it again after a reconnect). */
export interface PendingSend {
  clientMessageId: string;
  content: string;
  /** Why it failed for good, or null while it is on its way. */
  problem: string | null;
}

export interface RowActions {
  edit(m: Message): void;
  remove(m: Message): void;
  saveEdit(m: Message, content: string): void;
  cancelEdit(): void;
  retry(p: PendingSend): void;
  discard(p: PendingSend): void;
}

/** One row to show, with a signature that changes whenever the row must be drawn again. */
export type Row =
  | { key: string; kind: 'message'; message: Message; mine: boolean; author: string | null; showTime: boolean; editing: boolean }
  | { key: string; kind: 'pending'; pending: PendingSend }
  | { key: string; kind: 'note'; text: string; receipt?: boolean };

function signature(row: Row): string {
  switch (row.kind) {
    case 'message':
      return `${row.message.updatedAt}|${row.author}|${row.showTime}|${row.editing}`;
    case 'pending':
      return `${row.pending.problem}`;
    case 'note':
      return row.text;
  }
}

export class MessageList {
  readonly el = h('ol', { class: 'messages', 'aria-label': 'Messages' });
  readonly #rows = new Map<string, { el: HTMLElement; sig: string }>();
  readonly #actions: RowActions;

  constructor(actions: RowActions) {
    this.#actions = actions;
  }

  clear(): void {
    this.#rows.clear();
    this.el.replaceChildren();
  }

  /** Shows exactly `rows`, in order, reusing each unchanged row's element. */
  update(rows: Row[]): void {
    const wanted = new Set(rows.map((r) => r.key));
    for (const [key, row] of this.#rows) {
      if (wanted.has(key)) continue;
      row.el.remove();
      this.#rows.delete(key);
    }
    rows.forEach((row, i) => {
      const sig = signature(row);
      let known = this.#rows.get(row.key);
      if (known === undefined || known.sig !== sig) {
        known?.el.remove();
        known = { el: this.#draw(row), sig };
        this.#rows.set(row.key, known);
      }
      // Rows before i are in place already, so the i-th child is where this one belongs.
      const at = this.el.children[i] ?? null;
      if (at !== known.el) this.el.insertBefore(known.el, at);
    });
  }

  #draw(row: Row): HTMLElement {
    if (row.kind === 'note') return h('li', { class: row.receipt === true ? 'note receipt' : 'note', role: 'status' }, row.text);
    if (row.kind === 'pending') return this.#drawPending(row.pending);
    const { message: m, mine } = row;
    const deleted = m.deletedAt !== null;
    const edited = !deleted && m.updatedAt !== m.createdAt;
    const a = this.#actions;
    let body: HTMLElement;
    if (row.editing) {
      const input = h('input', { type: 'text', value: m.content, 'aria-label': 'Edit message', maxlength: 4000 });
      body = h(
        'form',
        {
          class: 'edit',
          onsubmit: (e: Event) => {
            e.preventDefault();
            a.saveEdit(m, input.value);
          },
          onkeydown: (e: KeyboardEvent) => e.key === 'Escape' && a.cancelEdit(),
        },
        input,
        h('button', { type: 'submit', class: 'primary' }, 'Save'),
        h('button', { type: 'button', onclick: () => a.cancelEdit() }, 'Cancel'),
      );
      queueMicrotask(() => input.focus());
    } else {
      body = h('div', { class: 'bubble' }, h('p', { class: 'text' }, deleted ? 'This message was deleted' : m.content));
    }
    return h(
      'li',
      { class: `message ${mine ? 'mine' : 'theirs'}${deleted ? ' deleted' : ''}`, 'data-message-id': m.id },
      row.author === null ? null : h('span', { class: 'author' }, row.author),
      body,
      h(
        'span',
        { class: 'meta' },
        row.showTime ? h('time', { datetime: m.createdAt, title: new Date(m.createdAt).toLocaleString() }, shortTime(m.createdAt)) : null,
        edited ? `${row.showTime ? ' · ' : ''}edited` : null,
      ),
      mine && !deleted && !row.editing
        ? h(
            'span',
            { class: 'actions' },
            h('button', { type: 'button', class: 'link', onclick: () => a.edit(m) }, 'Edit'),
            h('button', { type: 'button', class: 'link', onclick: () => a.remove(m) }, 'Delete'),
          )
        : null,
    );
  }

  #drawPending(p: PendingSend): HTMLElement {
    const a = this.#actions;
    return h(
      'li',
      { class: `message mine pending${p.problem === null ? '' : ' failed'}`, 'data-client-message-id': p.clientMessageId },
      h('div', { class: 'bubble' }, h('p', { class: 'text' }, p.content)),
      h(
        'span',
        { class: 'meta' },
        p.problem === null
          ? 'Sending…'
          : [
              `Not sent: ${p.problem} `,
              h('button', { type: 'button', class: 'link', onclick: () => a.retry(p) }, 'Retry'),
              h('button', { type: 'button', class: 'link', onclick: () => a.discard(p) }, 'Discard'),
            ],
      ),
    );
  }
}

/** Messages of one author this close together form a run: one name above it, one time below it. */
const RUN_GAP_MS = 5 * 60_000;

/** The rows of a conversation: a note on top, its messages oldest first, the seen receipt, and unsent ones. */
export function rowsFor(options: {
  messages: Message[];
  pending: PendingSend[];
  me: Id;
  group: boolean;
  name: (id: Id) => string;
  editing: Id | null;
  top: string | null;
  seenBy: string[];
}): Row[] {
  const { messages, me } = options;
  const rows: Row[] = [];
  if (options.top !== null) rows.push({ key: 'top', kind: 'note', text: options.top });
  const stored = new Set<string>();
  const sameRun = (a: Message | undefined, b: Message | undefined) =>
    a !== undefined && b !== undefined && a.author === b.author && Date.parse(b.createdAt) - Date.parse(a.createdAt) < RUN_GAP_MS;
  messages.forEach((m, i) => {
    const mine = m.author === me;
    if (m.clientMessageId !== null && mine) stored.add(m.clientMessageId);
    const author = !mine && options.group && !sameRun(messages[i - 1], m) ? options.name(m.author) : null;
    const showTime = !sameRun(m, messages[i + 1]) || m.id === options.editing;
    rows.push({ key: m.id, kind: 'message', message: m, mine, author, showTime, editing: m.id === options.editing });
  });
  // Under the user's own latest message, when it is the conversation's latest.
  if (messages.at(-1)?.author === me && options.seenBy.length > 0) {
    rows.push({ key: 'receipt', kind: 'note', receipt: true, text: `Seen by ${options.seenBy.join(', ')}` });
  }
  // A send is acknowledged by its MESSAGE_SENT, which can be drawn a moment before its promise settles.
  for (const p of options.pending) if (!stored.has(p.clientMessageId)) rows.push({ key: `pending:${p.clientMessageId}`, kind: 'pending', pending: p });
  return rows;
}
