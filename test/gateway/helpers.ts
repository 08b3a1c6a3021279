/**
 * Small helpers shared by the gateway suites: unique fixtures, deadlines, fences (what proves
 * that something did not happen) and the few assertions every suite repeats (a connection still
 * answers PING; a connection was closed with a code).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { createUser } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import type { Backend, BackendNode } from '../support/backends.js';
import { TestClient, type Frame } from '../support/client.js';
import { openConnections } from '../support/metrics.js';
import { signToken, type TestNode } from '../support/node.js';

/** A username no other test (or run) uses, so tests can share one node and one database. */
export function uniqueName(prefix = 'u'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** Creates `n` fresh users; returns their ids. */
export async function freshUsers(t: Pick<TestNode, 'db'>, n: number, prefix = 'u'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await createUser(t.db, uniqueName(`${prefix}${i}`)));
  return ids;
}

/** The close code and reason the client saw, or a failure when it stays open past `timeoutMs`. */
export async function closedWithin(client: TestClient, timeoutMs = 5000): Promise<{ code: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([client.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that the connection is open and served: PING answered by PONG with the requestId. */
export async function expectAlive(client: TestClient): Promise<void> {
  await client.fence();
}

/**
 * Asserts that no frame of `method` matching has arrived, behind a fence (TestClient.fence). Call
 * it once the cause was acknowledged (its sender's reply, or another recipient's copy): a node
 * writes a fan-out to every recipient at once, so a copy this connection should not get would have
 * been written before its PING was read.
 */
export async function expectNone(client: TestClient, method: string, match: (f: Frame) => boolean = () => true): Promise<void> {
  await client.fence();
  expect(client.frames.filter((f) => f.method === method && match(f))).toEqual([]);
}

/**
 * Waits until the node has handled every close so far, holding exactly `open` connections: a
 * client's own close event comes before or after the node's, in no set order.
 */
export async function closesHandled(t: Pick<TestNode, 'http'>, open: number): Promise<void> {
  let last = NaN;
  await waitUntil(async () => (last = await openConnections(t.http)) === open, () => `${open} open connections on the node (${last})`);
}

/**
 * Proves that the node has told `watchers` every presence change of `userId` it began so far, and
 * returns the connection that proved it. That new connection of the user signs in; a sign-in waits
 * for the user's earlier transitions (core/roster.ts runs them in turn), so its INIT comes after
 * what they wrote; then each watcher's fence proves it has read that. The user must be online on
 * another connection still (else this sign-in is itself a change), and a close counts only once the
 * node has handled it (closesHandled).
 */
export async function presenceFence(clients: Clients, userId: string, watchers: TestClient[]): Promise<TestClient> {
  const witness = await clients.online(userId);
  for (const w of watchers) await w.fence();
  return witness;
}

/**
 * Waits until the gateway's clock has fired every deadline due within `seconds` from now, counted
 * in whole seconds as a token's exp is: a witness of `userId` signs in with a token that expires
 * then and is closed with 4401 at its exp. The clock fires deadlines in order of time, a slot's in
 * the order they were set (transport/deadlines.ts), so every one set before and due by then has
 * fired when the witness closes.
 */
export async function clockPast(clients: Clients, userId: string, seconds: number): Promise<void> {
  const witness = await clients.open();
  witness.send('AUTHENTICATE', { token: await signToken(userId, seconds) });
  await waitFor(witness, 'INIT');
  const { code } = await closedWithin(witness, seconds * 1000 + 3000);
  expect(code).toBe(4401);
}

/** Every frame of `method` received so far whose data matches. */
export function received(client: TestClient, method: string, match: (data: Record<string, any>) => boolean = () => true): Frame[] {
  return client.frames.filter((f) => f.method === method && match(f.data));
}

/**
 * The first frame received so far (or arriving within `timeoutMs`) of `method` whose data matches.
 * Unlike TestClient.next it ignores what was taken before, so the order of calls does not matter.
 */
export async function waitFor(
  client: TestClient,
  method: string,
  match: (data: Record<string, any>) => boolean = () => true,
  timeoutMs = 5000,
): Promise<Frame> {
  await waitUntil(() => received(client, method, match).length > 0, () => `a ${method} frame (got ${client.frames.map((f) => f.method).join(',')})`, timeoutMs);
  return received(client, method, match)[0]!;
}

/** Waits until `count` frames of `method` matching have arrived; returns all of them. */
export async function receivedAtLeast(
  client: TestClient,
  method: string,
  count: number,
  match: (data: Record<string, any>) => boolean = () => true,
  timeoutMs = 5000,
): Promise<Frame[]> {
  await waitUntil(() => received(client, method, match).length >= count, `${count} ${method} frames`, timeoutMs);
  return received(client, method, match);
}

/**
 * One node per describe block, started before its tests (on `backend`, with `env` over the test
 * defaults); the clients a test opened are closed after it, the node after the block. Call it
 * inside describe(); `node()` answers from the first beforeAll on.
 */
export function nodeForSuite(backend: Backend, env: Record<string, string> = {}): { node: () => BackendNode; clients: Clients } {
  let started: BackendNode | undefined;
  const node = () => {
    if (started === undefined) throw new Error('the suite\'s node has not started');
    return started;
  };
  const clients = new Clients(node);
  beforeAll(async () => {
    started = await backend.start(env);
  });
  afterEach(() => clients.closeAll());
  afterAll(async () => {
    await clients.closeAll();
    await started?.close();
  });
  return { node, clients };
}

/**
 * The clients a suite opened, so `afterEach` can close them all (TestNode only closes its own
 * at node shutdown). Clients are opened against the node `node()` returns at call time.
 */
export class Clients {
  readonly #node: () => TestNode;
  #open: TestClient[] = [];

  constructor(node: () => TestNode) {
    this.#node = node;
  }

  /** An unauthenticated client on `path` of the node. */
  async open(path = '/'): Promise<TestClient> {
    const url = new URL(this.#node().ws);
    url.pathname = path;
    const client = new TestClient(url.toString());
    this.#open.push(client);
    await client.opened;
    return client;
  }

  /** A client signed in as `userId`; resolves with it and its INIT data. */
  async signIn(userId: string, extra: Record<string, unknown> = {}): Promise<{ client: TestClient; init: Record<string, any> }> {
    const client = await this.open();
    client.send('AUTHENTICATE', { token: await this.#node().token(userId), ...extra });
    // Not a race of two next() calls: the losing waiter would swallow a later ERROR.
    await waitUntil(() => client.frames.length > 0, 'INIT');
    const first = client.frames[0]!;
    if (first.method !== 'INIT') throw new Error(`sign-in failed: ${JSON.stringify(first)}`);
    return { client, init: first.data };
  }

  /** Signs in and returns the client alone. */
  async online(userId: string): Promise<TestClient> {
    return (await this.signIn(userId)).client;
  }

  /** Closes every client opened since the last call and waits (bounded) for the close handshakes. */
  async closeAll(): Promise<void> {
    const open = this.#open;
    this.#open = [];
    for (const c of open) c.close();
    await Promise.all(open.map((c) => Promise.race([c.closed, sleep(2000)])));
  }
}
