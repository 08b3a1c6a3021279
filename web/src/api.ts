/**
 * The HTTP side of the service (spec §3), which the WebSocket client does not cover: every answer
 * is the `{data, errors}` envelope, so a failed call throws an Error carrying `errors` as message.
 */
import type { Conversation, Id, Message } from 'massenger/client';

export interface DevUser {
  id: Id;
  username: string;
}

class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  let envelope: { data: T | null; errors: string | null };
  try {
    envelope = (await res.json()) as typeof envelope;
  } catch {
    throw new HttpError(res.status, `${method} ${path} answered ${res.status} without JSON`);
  }
  if (!res.ok || envelope.data === null) throw new HttpError(res.status, envelope.errors ?? `${method} ${path} answered ${res.status}`);
  return envelope.data;
}

/** The demo users of the development sign-in, or null when the service has none (a JWT key is configured). */
export async function devUsers(): Promise<DevUser[] | null> {
  try {
    return (await call<{ users: DevUser[] }>('GET', '/dev/users')).users;
  } catch (err) {
    if (err instanceof HttpError && err.status === 404) return null;
    throw err;
  }
}

/** A development token for `userId` (only while the development sign-in exists). */
export async function devToken(userId: Id): Promise<string> {
  return (await call<{ token: string }>('POST', '/dev/token', { body: { userId } })).token;
}

/** The signed-in user's public routes; `token` gives a valid token for each call. */
export class Api {
  readonly #token: () => Promise<string>;

  constructor(token: () => Promise<string>) {
    this.#token = token;
  }

  async conversations(limit = 100): Promise<Conversation[]> {
    return (await call<{ conversations: Conversation[] }>('GET', `/massenger?limit=${limit}`, { token: await this.#token() })).conversations;
  }

  async conversation(id: Id): Promise<Conversation & { messages: Message[]; hasMore: boolean }> {
    type Answer = { conversation: Conversation & { messages: Message[]; hasMore: boolean } };
    return (await call<Answer>('GET', `/massenger/${id}`, { token: await this.#token() })).conversation;
  }

  async startConversation(userIds: Id[]): Promise<Id> {
    return (await call<{ conversationId: Id }>('POST', '/massenger/startConversation', { token: await this.#token(), body: { userIds } })).conversationId;
  }

  async addMembers(conversationId: Id, userIds: Id[]): Promise<Id[]> {
    return (await call<{ added: Id[] }>('POST', `/massenger/${conversationId}/members`, { token: await this.#token(), body: { userIds } })).added;
  }

  async leave(conversationId: Id, userId: Id): Promise<void> {
    await call('DELETE', `/massenger/${conversationId}/members/${userId}`, { token: await this.#token() });
  }
}
