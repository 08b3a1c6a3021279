/**
 * The conversation list: latest activity first, each with who is in it, an online dot while
 * another member is online (`active`), the last message, and the unread count (`unreadCount`).
 */
import type { ChatState, Conversation, Id } from 'massenger/client';
import { avatar, h, shortTime } from './dom.js';

export interface SidebarDeps {
  state: ChatState;
  selected(): Id | null;
  title(c: Conversation): string;
  name(userId: Id): string;
  select(conversationId: Id): void;
}

export function renderSidebar(list: HTMLElement, deps: SidebarDeps): void {
  const { state } = deps;
  const me = state.userId;
  const conversations = state.conversations;
  if (conversations.length === 0) {
    list.replaceChildren(h('li', { class: 'muted empty' }, 'No conversations yet.'));
    return;
  }
  list.replaceChildren(
    ...conversations.map((c) => {
      const selected = c.id === deps.selected();
      const others = c.users.filter((u) => u.id !== me);
      const face = others[0] ?? c.users[0];
      const last = c.lastMessage;
      const preview =
        last === null
          ? 'No messages yet'
          : `${last.author === me ? 'You: ' : c.private ? '' : `${deps.name(last.author)}: `}${last.deletedAt !== null ? 'message deleted' : last.content}`;
      // The open conversation is marked seen as messages arrive; its count would only flicker.
      const unread = selected ? 0 : c.unreadCount;
      return h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            class: `conversation${selected ? ' selected' : ''}${unread > 0 ? ' unread' : ''}`,
            'data-conversation-id': c.id,
            'data-online': String(c.active),
            'aria-current': selected ? 'true' : null,
            onclick: () => deps.select(c.id),
          },
          c.private || face === undefined ? avatar(face?.id ?? c.id, face === undefined ? '?' : deps.name(face.id), c.active) : avatar(c.id, '#', c.active),
          h(
            'span',
            { class: 'summary' },
            h('span', { class: 'title' }, deps.title(c)),
            h('span', { class: 'preview' }, preview),
          ),
          h(
            'span',
            { class: 'side' },
            h('time', { datetime: c.lastActivityAt }, shortTime(c.lastActivityAt)),
            unread > 0 ? h('span', { class: 'badge', 'aria-label': `${unread} unread` }, unread >= 100 ? '99+' : String(unread)) : null,
          ),
        ),
      );
    }),
  );
}
