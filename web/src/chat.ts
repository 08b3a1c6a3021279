/**
 * The signed-in page: one MassengerClient (the WebSocket side: reconnects, resumes and resends by
 * itself), a ChatState that follows it, the HTTP routes for what the socket does not carry
 * (conversation lists, starting conversations, members), and the views drawn from that state.
 */
import { ChatState, MassengerClient, type Conversation, type Id, type StateChange } from 'massenger/client';
import { Api } from './api.js';
import { ConversationView } from './conversation-view.js';
import { avatar, h } from './dom.js';
import type { PendingSend } from './messages.js';
import { pickPeople, type Person } from './people-dialog.js';
import { Tokens, type SignIn } from './session.js';
import { renderSidebar } from './sidebar.js';
import { Toasts } from './toasts.js';

/** Conversations read over HTTP after each INIT, which carries only the 10 latest. */
const LISTED = 100;

export class ChatApp {
  readonly #client: MassengerClient;
  readonly #state = new ChatState();
  readonly #api: Api;
  readonly #signIn: SignIn;
  readonly #end: (problem?: string) => void;
  /** Usernames learnt from every conversation seen, for events that carry only ids. */
  readonly #names = new Map<Id, string>();
  readonly #pending = new Map<Id, PendingSend[]>();
  /** When friends went offline while this page watched (USER_LEFT carries no time; lastVisit is older). */
  readonly #leftAt = new Map<Id, string>();
  readonly #toasts = new Toasts();
  readonly #view: ConversationView;
  readonly #list = h('ul', { class: 'conversations', 'aria-label': 'Conversations' });
  readonly #connection = h('span', { class: 'connection', role: 'status', 'data-state': 'connecting' }, 'connecting…');
  readonly #me = h('div', { class: 'me' });
  readonly #stops: Array<() => void> = [];
  #selected: Id | null = null;
  #renderQueued = false;
  #lastProblem = '';

  constructor(root: HTMLElement, signIn: SignIn, end: (problem?: string) => void) {
    this.#signIn = signIn;
    this.#end = end;
    const tokens = new Tokens(signIn);
    this.#api = new Api(() => tokens.get());
    this.#client = new MassengerClient({ url: socketUrl(), token: signIn.kind === 'token' ? signIn.token : () => tokens.get() });
    this.#view = new ConversationView({
      client: this.#client,
      state: this.#state,
      name: (id) => this.#name(id),
      title: (c) => this.#title(c),
      lastSeen: (u) => this.#leftAt.get(u.id) ?? u.lastVisit,
      pending: (id) => this.#pending.get(id) ?? [],
      send: (id, content) => this.#send(id, { clientMessageId: randomId(), content, problem: null }),
      retry: (id, p) => this.#send(id, p),
      discard: (id, p) => this.#dropPending(id, p),
      addPeople: (c) => void this.#addPeople(c),
      leave: (c) => void this.#leave(c),
      problem: (text) => this.#toasts.show(text, { kind: 'problem' }),
    });
    root.replaceChildren(
      h(
        'div',
        { class: 'chat' },
        h(
          'aside',
          { class: 'sidebar' },
          h(
            'header',
            { class: 'sidebar-header' },
            this.#me,
            h('button', { type: 'button', class: 'link', onclick: () => this.#stop() }, 'Sign out'),
          ),
          h('button', { type: 'button', class: 'primary new', onclick: () => void this.#newConversation() }, 'New conversation'),
          this.#list,
        ),
        this.#view.el,
        this.#toasts.el,
      ),
    );
    this.#listen();
    const typingClock = setInterval(() => this.#view.renderTyping(), 1000);
    this.#stops.push(() => clearInterval(typingClock), () => this.#view.close());
    // Failures arrive as `state` and `authFailed` events; connect() only starts the client.
    this.#client.connect().catch(() => {});
  }

  #listen(): void {
    const client = this.#client;
    this.#stops.push(
      this.#state.attach(client),
      this.#state.onChange(() => this.#renderSoon()),
      client.on('state', (change) => this.#showConnection(change)),
      client.on('USER_LEFT', ({ userId }) => this.#leftAt.set(userId, new Date().toISOString())),
      client.on('USER_JOINED', ({ userId }) => this.#leftAt.delete(userId)),
      client.on('INIT', (init) => {
        this.#learn(init.conversations);
        void this.#loadConversations();
      }),
      // More was missed than INIT could carry: what is on screen may have gaps.
      client.on('reload', () => this.#view.reload()),
      client.on('INVITATION_SENT', ({ conversationId }) => void this.#adopt(conversationId)),
      client.on('MEMBERS_CHANGED', ({ conversationId, added, removed, by }) => {
        const me = this.#state.userId;
        if (me !== null && removed.includes(me)) {
          if (this.#selected === conversationId) this.#select(null);
          return;
        }
        if (added.some((id) => !this.#names.has(id))) void this.#adopt(conversationId);
        if (conversationId === this.#selected && by !== me) {
          const who = [...added.map((id) => `${this.#name(id)} joined`), ...removed.map((id) => `${this.#name(id)} left`)];
          this.#toasts.show(who.join(', '));
        }
      }),
      client.on('NOTIFICATION_SENT', (n) => {
        this.#toasts.show(n.content, { title: n.name ?? 'Notification', kind: 'notification', ...(n.img === undefined ? {} : { img: n.img }) });
      }),
      client.on('authFailed', ({ error, fatal }) => {
        if (fatal) return this.#stop(`Signed out: ${error.message}`);
        // The client tries again by itself; say why once, not at every attempt.
        if (error.message !== this.#lastProblem) this.#toasts.show(`Could not sign in: ${error.message}. Trying again…`, { kind: 'problem' });
        this.#lastProblem = error.message;
      }),
    );
  }

  #stop(problem?: string): void {
    this.#client.close();
    for (const stop of this.#stops) stop();
    document.title = 'massenger';
    this.#end(problem);
  }

  #renderSoon(): void {
    if (this.#renderQueued) return;
    this.#renderQueued = true;
    queueMicrotask(() => {
      this.#renderQueued = false;
      this.#render();
    });
  }

  #render(): void {
    const state = this.#state;
    if (this.#selected !== null && state.conversation(this.#selected) === undefined) this.#select(null);
    const me = state.userId;
    const name = me === null ? (this.#signIn.kind === 'dev' ? this.#signIn.username : '') : this.#name(me);
    this.#me.replaceChildren(avatar(me ?? '0', name), h('div', { class: 'who-am-i' }, h('strong', {}, name), this.#connection));
    renderSidebar(this.#list, { state, selected: () => this.#selected, title: (c) => this.#title(c), name: (id) => this.#name(id), select: (id) => this.#select(id) });
    this.#view.render();
    const unread = state.conversations.filter((c) => c.unread && c.id !== this.#selected).length;
    document.title = unread > 0 ? `(${unread}) massenger` : 'massenger';
  }

  #select(id: Id | null): void {
    this.#selected = id;
    this.#view.show(id);
    this.#renderSoon();
  }

  #showConnection(change: StateChange): void {
    const text: Record<StateChange['state'], string> = {
      idle: 'connecting…',
      connecting: 'connecting…',
      open: 'connected',
      reconnecting: change.delayMs === undefined ? 'reconnecting…' : `reconnecting in ${Math.ceil(change.delayMs / 1000)} s…`,
      closed: 'offline',
    };
    if (change.state === 'open') this.#lastProblem = '';
    this.#connection.dataset.state = change.state;
    this.#connection.textContent = text[change.state];
  }

  #name(userId: Id): string {
    const known = this.#names.get(userId);
    if (known !== undefined) return known;
    if (this.#signIn.kind === 'dev' && this.#signIn.userId === userId) return this.#signIn.username;
    return `user ${userId}`;
  }

  #title(c: Conversation): string {
    const others = c.users.filter((u) => u.id !== this.#state.userId).map((u) => this.#name(u.id));
    if (others.length === 0) return 'Just you';
    return others.length <= 3 ? others.join(', ') : `${others.slice(0, 3).join(', ')} +${others.length - 3}`;
  }

  #learn(conversations: Conversation[]): void {
    for (const c of conversations) for (const u of c.users) if (u.username !== '') this.#names.set(u.id, u.username);
  }

  /**
   * Puts conversations read over HTTP into the ChatState, which learns conversations only from
   * server events: each goes in as the INIT that would have carried it, the user and online
   * friends unchanged. Conversations the state already follows are left as they are (its copy
   * may be newer than the HTTP answer).
   */
  #put(conversations: Conversation[]): void {
    const state = this.#state;
    this.#learn(conversations);
    const unknown = conversations.filter((c) => state.conversation(c.id) === undefined);
    if (state.userId === null || unknown.length === 0) return this.#renderSoon();
    state.apply('INIT', { userId: state.userId, conversations: unknown, onlineFriends: state.onlineFriends });
  }

  async #loadConversations(): Promise<void> {
    try {
      this.#put(await this.#api.conversations(LISTED));
    } catch (err) {
      this.#toasts.show(`Could not load conversations: ${(err as Error).message}`, { kind: 'problem' });
    }
  }

  /** Reads one conversation over HTTP (an invitation, new members' names) into the state. */
  async #adopt(conversationId: Id): Promise<void> {
    try {
      this.#put([await this.#api.conversation(conversationId)]);
    } catch (err) {
      this.#toasts.show(`Could not load a conversation: ${(err as Error).message}`, { kind: 'problem' });
    }
  }

  /** Friends: the other member of each private conversation. */
  #friends(): Person[] {
    const me = this.#state.userId;
    const friends = new Map<Id, Person>();
    for (const c of this.#state.conversations) {
      if (!c.private) continue;
      for (const u of c.users) if (u.id !== me) friends.set(u.id, { id: u.id, username: this.#name(u.id), online: u.online });
    }
    return [...friends.values()].sort((a, b) => a.username.localeCompare(b.username));
  }

  async #newConversation(): Promise<void> {
    const ids = await pickPeople('New conversation', this.#friends(), 'Start');
    if (ids === null || ids.length === 0) return;
    // One friend: the private conversation of the two already exists.
    const existing = ids.length === 1 ? this.#state.conversations.find((c) => c.private && c.users.some((u) => u.id === ids[0])) : undefined;
    if (existing !== undefined) return this.#select(existing.id);
    try {
      const id = await this.#api.startConversation(ids);
      await this.#adopt(id);
      this.#select(id);
    } catch (err) {
      this.#toasts.show(`Could not start the conversation: ${(err as Error).message}`, { kind: 'problem' });
    }
  }

  async #addPeople(c: Conversation): Promise<void> {
    const members = new Set(c.users.map((u) => u.id));
    const ids = await pickPeople('Add people', this.#friends().filter((f) => !members.has(f.id)), 'Add');
    if (ids === null || ids.length === 0) return;
    try {
      await this.#api.addMembers(c.id, ids);
    } catch (err) {
      this.#toasts.show(`Could not add people: ${(err as Error).message}`, { kind: 'problem' });
    }
  }

  async #leave(c: Conversation): Promise<void> {
    const me = this.#state.userId;
    if (me === null || !confirm(`Leave the conversation with ${this.#title(c)}?`)) return;
    try {
      await this.#api.leave(c.id, me);
    } catch (err) {
      this.#toasts.show(`Could not leave: ${(err as Error).message}`, { kind: 'problem' });
    }
  }

  /** Shows the send at once as pending; the client delivers it exactly once, across reconnects. */
  #send(conversationId: Id, p: PendingSend): void {
    p.problem = null;
    const list = this.#pending.get(conversationId) ?? [];
    if (!list.includes(p)) list.push(p);
    this.#pending.set(conversationId, list);
    this.#renderSoon();
    this.#client.send(conversationId, p.content, { clientMessageId: p.clientMessageId }).then(
      () => this.#dropPending(conversationId, p),
      (err: Error) => {
        p.problem = err.message;
        this.#renderSoon();
      },
    );
  }

  #dropPending(conversationId: Id, p: PendingSend): void {
    const list = (this.#pending.get(conversationId) ?? []).filter((q) => q !== p);
    if (list.length === 0) this.#pending.delete(conversationId);
    else this.#pending.set(conversationId, list);
    this.#renderSoon();
  }
}

function socketUrl(): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/`;
}

/** 128 random bits as hex (crypto.randomUUID exists only in secure contexts, not on a LAN address). */
function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}
