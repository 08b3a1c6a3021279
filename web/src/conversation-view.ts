/**
 * The open conversation: its header (who, online, add people, leave), history that loads older
 * pages as you scroll up (FETCH_MESSAGES with `before`), live messages, who is typing, seen
 * receipts, editing and deleting one's own messages, and the composer.
 */
import { MassengerError, type ChatState, type ClientErrorCode, type Conversation, type ConversationUser, type ErrorCode, type Id, type IsoTime, type MassengerClient, type Message } from 'massenger/client';
import { avatar, h, shortTime } from './dom.js';
import { MessageList, rowsFor, type PendingSend } from './messages.js';

/** Messages per FETCH_MESSAGES page. */
const PAGE = 30;
/** TYPING is sent at most this often while the user types (others show it for 5 s). */
const TYPING_EVERY_MS = 2500;
/** Within this many pixels of an edge counts as at it. */
const EDGE_PX = 80;
/**
 * A latest page refused for a reason that passes is asked for again after this long while its
 * conversation stays open: the link dropped after the request was written (DISCONNECTED), no
 * answer in time (TIMEOUT), or a busy node (UNAVAILABLE, RATE_LIMITED). Without it the list stayed
 * empty until the conversation was opened again.
 */
const LATEST_RETRY_MS = 2000;
const PASSING: ReadonlySet<ErrorCode | ClientErrorCode> = new Set<ErrorCode | ClientErrorCode>(['DISCONNECTED', 'TIMEOUT', 'UNAVAILABLE', 'RATE_LIMITED']);

export interface ViewDeps {
  client: MassengerClient;
  state: ChatState;
  name(userId: Id): string;
  title(c: Conversation): string;
  /** When a member was last online, as far as this page knows. */
  lastSeen(user: ConversationUser): IsoTime | null;
  pending(conversationId: Id): PendingSend[];
  send(conversationId: Id, content: string): void;
  retry(conversationId: Id, p: PendingSend): void;
  discard(conversationId: Id, p: PendingSend): void;
  addPeople(c: Conversation): void;
  leave(c: Conversation): void;
  problem(text: string): void;
}

interface History {
  hasMore: boolean;
  loading: boolean;
}

export class ConversationView {
  readonly el = h('section', { class: 'conversation-view' });
  readonly #deps: ViewDeps;
  readonly #header = h('header', { class: 'conversation-header' });
  readonly #list: MessageList;
  readonly #typing = h('p', { class: 'typing', 'aria-live': 'polite' });
  readonly #input = h('textarea', { rows: 1, placeholder: 'Write a message…', 'aria-label': 'Message', maxlength: 4000 });
  readonly #composer: HTMLFormElement;
  /** Per conversation: whether older messages remain, and whether a page is on its way. */
  readonly #history = new Map<Id, History>();
  #id: Id | null = null;
  #editing: Id | null = null;
  #lastTypingAt = 0;
  /** The newest message of others this view has marked seen, so each is marked once. */
  #seenUpTo: Id | null = null;
  /** What the header shows, so it is redrawn only when that changes (a click is not lost to a redraw). */
  #headerShows = '';

  constructor(deps: ViewDeps) {
    this.#deps = deps;
    this.#list = new MessageList({
      edit: (m) => ((this.#editing = m.id), this.render()),
      cancelEdit: () => ((this.#editing = null), this.render()),
      saveEdit: (m, content) => void this.#saveEdit(m, content),
      remove: (m) => void this.#remove(m),
      retry: (p) => this.#id !== null && deps.retry(this.#id, p),
      discard: (p) => this.#id !== null && deps.discard(this.#id, p),
    });
    this.#list.el.addEventListener('scroll', () => {
      if (this.#list.el.scrollTop < EDGE_PX) void this.#loadOlder();
    });
    this.#input.addEventListener('input', () => this.#typed());
    this.#input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.#composer.requestSubmit();
      }
    });
    this.#composer = h(
      'form',
      { class: 'composer', onsubmit: (e: Event) => (e.preventDefault(), this.#submit()) },
      this.#input,
      h('button', { type: 'submit', class: 'primary' }, 'Send'),
    );
    document.addEventListener('visibilitychange', this.#onVisible);
    this.show(null);
  }

  /** Stops following the document (on sign-out). */
  close(): void {
    document.removeEventListener('visibilitychange', this.#onVisible);
  }

  /** Back in view: what arrived meanwhile is now seen. */
  readonly #onVisible = (): void => this.#markSeen();

  get conversationId(): Id | null {
    return this.#id;
  }

  /** Opens a conversation (null: none): loads its latest page once and marks it seen. */
  show(id: Id | null): void {
    if (id !== this.#id) {
      this.#id = id;
      this.#editing = null;
      this.#seenUpTo = null;
      this.#list.clear();
      this.#input.value = '';
    }
    if (id === null) {
      this.el.replaceChildren(h('div', { class: 'placeholder' }, h('p', {}, 'Pick a conversation, or start a new one.')));
      return;
    }
    this.el.replaceChildren(this.#header, this.#list.el, this.#typing, this.#composer);
    if (!this.#history.has(id)) void this.#loadLatest(id);
    this.render({ toBottom: true });
    this.#input.focus();
  }

  /** Forgets every conversation's paging (after an INIT with `recovered: false`) and reloads the open one. */
  reload(): void {
    this.#history.clear();
    if (this.#id !== null) void this.#loadLatest(this.#id);
  }

  /** Draws what changed; keeps the reader where they were unless they were at the bottom. */
  render(options: { toBottom?: boolean } = {}): void {
    const id = this.#id;
    const c = id === null ? undefined : this.#deps.state.conversation(id);
    if (id === null || c === undefined) return;
    const { state, name } = this.#deps;
    const me = state.userId ?? '';
    const scroller = this.#list.el;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < EDGE_PX;
    this.#drawHeader(c, me);
    const messages = state.messages(id);
    const history = this.#history.get(id);
    const lastMine = messages.findLast((m) => m.author === me);
    const seenBy = lastMine === undefined ? [] : [...state.seenBy(id)].filter(([, at]) => at >= lastMine.createdAt).map(([userId]) => name(userId));
    this.#list.update(
      rowsFor({
        messages,
        pending: this.#deps.pending(id),
        me,
        group: !c.private,
        name,
        editing: this.#editing,
        top: history === undefined || history.loading ? 'Loading messages…' : history.hasMore ? null : messages.length === 0 ? 'No messages yet: say hello!' : 'This is the beginning of the conversation.',
        seenBy,
      }),
    );
    this.renderTyping();
    if (options.toBottom === true || atBottom) scroller.scrollTop = scroller.scrollHeight;
    this.#markSeen();
  }

  /** The typing line alone: it changes with time, not only with events. */
  renderTyping(): void {
    if (this.#id === null) return;
    const names = this.#deps.state.typing(this.#id).map((id) => this.#deps.name(id));
    this.#typing.textContent = names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
  }

  #drawHeader(c: Conversation, me: Id): void {
    const others = c.users.filter((u) => u.id !== me);
    const other = others[0];
    let status: string;
    if (c.private && other !== undefined) {
      const seen = this.#deps.lastSeen(other);
      status = other.online ? 'online' : seen === null ? 'offline' : `last seen ${shortTime(seen)}`;
    } else {
      const online = others.filter((u) => u.online).length;
      status = `${c.users.length} members${online > 0 ? ` · ${online} online` : ''}`;
    }
    const shows = JSON.stringify([c.id, this.#deps.title(c), status, c.active, c.private]);
    if (shows === this.#headerShows) return;
    this.#headerShows = shows;
    const tools = c.private
      ? []
      : [
          h(
            'div',
            { class: 'tools' },
            h('button', { type: 'button', onclick: () => this.#deps.addPeople(c) }, 'Add people'),
            h('button', { type: 'button', class: 'danger', onclick: () => this.#deps.leave(c) }, 'Leave'),
          ),
        ];
    this.#header.replaceChildren(
      avatar(c.private && other !== undefined ? other.id : c.id, c.private && other !== undefined ? this.#deps.name(other.id) : '#', c.active),
      h('div', { class: 'who' }, h('h2', {}, this.#deps.title(c)), h('p', { class: 'status', 'data-online': String(c.active) }, status)),
      ...tools,
    );
  }

  async #loadLatest(id: Id): Promise<void> {
    const history: History = { hasMore: false, loading: true };
    this.#history.set(id, history);
    try {
      history.hasMore = (await this.#deps.client.fetchMessages(id, { limit: PAGE })).hasMore;
    } catch (err) {
      this.#history.delete(id);
      const again = err instanceof MassengerError && PASSING.has(err.code);
      this.#deps.problem(`Could not load messages: ${(err as Error).message}${again ? '. Trying again…' : ''}`);
      if (again) setTimeout(() => this.#retryLatest(id), LATEST_RETRY_MS);
    }
    history.loading = false;
    if (id !== this.#id) return;
    this.render({ toBottom: true });
    this.#fillScreen();
  }

  /** Loads the latest page again, unless the conversation was left or loaded meanwhile. */
  #retryLatest(id: Id): void {
    if (id === this.#id && !this.#history.has(id)) void this.#loadLatest(id);
  }

  async #loadOlder(): Promise<void> {
    const id = this.#id;
    const history = id === null ? undefined : this.#history.get(id);
    const oldest = id === null ? undefined : this.#deps.state.messages(id)[0];
    if (id === null || history === undefined || history.loading || !history.hasMore || oldest === undefined) return;
    history.loading = true;
    const scroller = this.#list.el;
    // Older rows go in above: keep the oldest row shown where it is, so what was read stays in
    // view. (The rows may be drawn before this resumes: state changes render on their own.)
    const anchor = scroller.querySelector<HTMLElement>(`[data-message-id="${oldest.id}"]`);
    const anchorTop = anchor === null ? 0 : anchor.offsetTop - scroller.scrollTop;
    try {
      history.hasMore = (await this.#deps.client.fetchMessages(id, { before: oldest.id, limit: PAGE })).hasMore;
    } catch (err) {
      this.#deps.problem(`Could not load older messages: ${(err as Error).message}`);
    }
    history.loading = false;
    if (id !== this.#id) return;
    this.render();
    if (anchor?.isConnected === true) scroller.scrollTop = anchor.offsetTop - anchorTop;
    this.#fillScreen();
  }

  /** While the history does not fill the view there is nothing to scroll: load more at once. */
  #fillScreen(): void {
    const scroller = this.#list.el;
    if (scroller.scrollHeight <= scroller.clientHeight + EDGE_PX) void this.#loadOlder();
  }

  /**
   * OPEN_CONVERSATION when a conversation is opened, and again whenever a newer message of someone
   * else is in view, so the others' seen receipts follow what this user actually has on screen.
   */
  #markSeen(): void {
    const id = this.#id;
    if (id === null || document.visibilityState !== 'visible') return;
    const me = this.#deps.state.userId;
    const newest = this.#deps.state.messages(id).findLast((m) => m.author !== me)?.id ?? '0';
    if (newest === this.#seenUpTo) return;
    this.#seenUpTo = newest;
    void this.#deps.client.openConversation(id).catch(() => (this.#seenUpTo = null));
  }

  #typed(): void {
    const now = Date.now();
    if (this.#id === null || this.#input.value.trim() === '' || now - this.#lastTypingAt < TYPING_EVERY_MS) return;
    if (this.#deps.client.typing(this.#id)) this.#lastTypingAt = now;
  }

  #submit(): void {
    const content = this.#input.value;
    if (this.#id === null || content.trim() === '') return;
    this.#input.value = '';
    this.#lastTypingAt = 0;
    this.#deps.send(this.#id, content);
    this.render({ toBottom: true });
  }

  async #saveEdit(m: Message, content: string): Promise<void> {
    this.#editing = null;
    this.render();
    if (content.trim() === '' || content === m.content) return;
    try {
      await this.#deps.client.editMessage(m.id, content);
    } catch (err) {
      this.#deps.problem(`Could not edit the message: ${(err as Error).message}`);
    }
  }

  async #remove(m: Message): Promise<void> {
    if (!confirm('Delete this message for everyone?')) return;
    try {
      await this.#deps.client.deleteMessage(m.id);
    } catch (err) {
      this.#deps.problem(`Could not delete the message: ${(err as Error).message}`);
    }
  }
}
