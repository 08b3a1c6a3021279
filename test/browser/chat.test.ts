/**
 * The chat page in Debian's Chromium against `npm start`'s defaults (embedded database, no JWT
 * settings): people sign in with the development sign-in, see each other come and go, chat with
 * typing and seen receipts, find their history after a reload and page back through it, and use
 * groups, edits and deletes. Every wait is for something a person would see.
 */
import { rmSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MassengerClient } from '../../src/client/index.js';
import { killAll, tempDir, type Server } from '../process/proc.js';
import { TestClient } from '../support/client.js';
import { connected, conversationWith, ensurePageBuilt, launch, message, needsChromium, say, screenshot, signIn, startDemo, VISIBLE_MS } from './support.js';

const dir = tempDir();
let server: Server;
let users: Record<string, string>;

beforeAll(async () => {
  await ensurePageBuilt();
  server = await startDemo(dir);
  const listed = (await (await fetch(`${server.http}/dev/users`)).json()) as { data: { users: Array<{ id: string; username: string }> } };
  users = Object.fromEntries(listed.data.users.map((u) => [u.username, u.id]));
}, 240_000);
afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

async function devToken(userId: string): Promise<string> {
  const res = await fetch(`${server.http}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId }) });
  return ((await res.json()) as { data: { token: string } }).data.token;
}

describe('the page at /', () => {
  it('is served while WebSocket upgrades on / keep working, and other paths keep the 404 envelope', async () => {
    const page = await fetch(`${server.http}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await fetch(`${server.http}${script}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(await (await fetch(`${server.http}/no-such-page`)).json()).toEqual({ data: null, errors: 'no route GET /no-such-page' });

    const client = await TestClient.open(server.ws);
    try {
      client.send('AUTHENTICATE', { token: await devToken(users.alice!) });
      expect((await client.next(['INIT', 'ERROR'], () => true, 15_000)).data.userId).toBe(users.alice);
    } finally {
      client.close();
    }
  });
});

describe.runIf(needsChromium())('two people in a browser', () => {
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  beforeAll(async () => {
    browser = await launch();
  }, 60_000);
  afterEach(async ({ task }) => {
    // A failed wait says only what was missing: say also what each page was telling its person.
    if (task.result?.state === 'fail') {
      for (const page of contexts.flatMap((c) => c.pages())) {
        const connection = await page.locator('.connection').textContent({ timeout: 1000 }).catch(() => null);
        console.error(`the page at ${page.url()} showed`, { connection, toasts: await page.locator('.toast').allTextContents() });
      }
    }
    for (const c of contexts.splice(0)) await c.close();
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function person(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(VISIBLE_MS);
    return page;
  }

  it('see each other come online, chat with typing, unread marks and seen receipts, get notifications, and see each other go', async () => {
    const alice = await person();
    await signIn(alice, server.http, 'alice');
    const bobAtAlice = conversationWith(alice, 'bob');
    await bobAtAlice.and(alice.locator('[data-online="false"]')).waitFor();

    const bob = await person();
    await bob.goto(server.http);
    await bob.getByRole('list', { name: 'Demo users' }).waitFor();
    await screenshot(bob, 'sign-in');
    await bob.getByRole('button', { name: 'bob', exact: true }).click();
    await connected(bob);
    await bobAtAlice.and(alice.locator('[data-online="true"]')).waitFor();

    await bobAtAlice.click();
    await alice.locator('.who .status').getByText('online', { exact: true }).waitFor();
    await say(alice, 'Hi bob, it is alice');
    const aliceAtBob = conversationWith(bob, 'alice');
    await aliceAtBob.locator('.badge').getByText('1', { exact: true }).waitFor();
    await aliceAtBob.locator('.preview').getByText('Hi bob, it is alice').waitFor();
    await screenshot(bob, 'unread');

    // Opening it marks it seen: the badge goes, and alice sees the receipt.
    await aliceAtBob.click();
    await message(bob, 'Hi bob, it is alice').waitFor();
    await aliceAtBob.locator('.badge').waitFor({ state: 'detached' });
    await alice.getByText('Seen by bob').waitFor();

    const box = bob.getByRole('textbox', { name: 'Message', exact: true });
    await box.pressSequentially('Hey alice, nice to see you');
    await alice.getByText('bob is typing…').waitFor();
    await screenshot(alice, 'typing');
    await box.press('Enter');
    await message(alice, 'Hey alice, nice to see you').waitFor();
    await alice.getByText('bob is typing…').waitFor({ state: 'detached' });
    await screenshot(alice, 'chat');
    for (const page of [alice, bob]) {
      expect(await message(page, 'Hi bob, it is alice').count()).toBe(1);
      expect(await message(page, 'Hey alice, nice to see you').count()).toBe(1);
    }

    // The main API pushes a notification: it shows on bob's page as it arrives.
    const pushed = await fetch(`${server.http}/socket/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ users: [users.bob], content: 'alice liked your photo', name: 'Photos' }),
    });
    expect(((await pushed.json()) as { data: { users: number } }).data.users).toBe(1);
    await bob.getByRole('status').filter({ hasText: 'alice liked your photo' }).waitFor();
    await screenshot(bob, 'notification');

    await contexts.splice(contexts.indexOf(bob.context()), 1)[0]!.close();
    await bobAtAlice.and(alice.locator('[data-online="false"]')).waitFor();
    await alice.locator('.who .status').getByText(/^last seen/).waitFor();
  }, 240_000);

  it('finds the history after a reload and loads older messages while scrolling up', async () => {
    // Carol wrote 70 messages to alice through the client library, from Node.
    const carol = new MassengerClient({ url: server.ws, token: () => devToken(users.carol!), WebSocket });
    const init = await carol.connect();
    const withAlice = init.conversations.find((c) => c.private && c.users.some((u) => u.id === users.alice))!;
    const texts = Array.from({ length: 70 }, (_, i) => `history ${i + 1}`);
    try {
      for (const text of texts) await carol.send(withAlice.id, text);
    } finally {
      carol.close();
    }

    const alice = await person();
    await signIn(alice, server.http, 'alice');
    await conversationWith(alice, 'carol').click();
    await message(alice, 'history 70').waitFor();
    await message(alice, 'history 41').waitFor();
    // Only the latest page is loaded: the first message is further back.
    expect(await message(alice, 'history 1').count()).toBe(0);

    await alice.getByRole('list', { name: 'Messages' }).hover();
    await expect
      .poll(
        async () => {
          await alice.mouse.wheel(0, -4000);
          return message(alice, 'history 1').count();
        },
        { timeout: VISIBLE_MS, interval: 300 },
      )
      .toBe(1);
    await alice.getByText('This is the beginning of the conversation.').waitFor();
    const shown = async () => (await alice.locator('.messages .message .text').allTextContents()).filter((t) => t.startsWith('history '));
    expect(await shown()).toEqual(texts);

    // A reload keeps alice signed in (this tab's session) and the history comes back.
    await alice.reload();
    await connected(alice);
    await alice.locator('.me').getByText('alice', { exact: true }).waitFor();
    await conversationWith(alice, 'carol').click();
    await message(alice, 'history 70').waitFor();
    await screenshot(alice, 'history');
  }, 240_000);

  it('asks again for the open conversation when its first page got no answer', async () => {
    const carol = new MassengerClient({ url: server.ws, token: () => devToken(users.carol!), WebSocket });
    const init = await carol.connect();
    const withBob = init.conversations.find((c) => c.private && c.users.some((u) => u.id === users.bob))!;
    try {
      await carol.send(withBob.id, 'written before bob looked');
    } finally {
      carol.close();
    }

    // The page's first request for the conversation's latest page is lost on the way: the
    // client gives up on it after its request timeout (TIMEOUT), and the page asks again.
    const bob = await person();
    const lost: unknown[] = [];
    await bob.routeWebSocket(/./, (page) => {
      const upstream = page.connectToServer();
      page.onMessage((frame) => {
        const request = typeof frame === 'string' ? (JSON.parse(frame) as { method?: string; data?: { conversationId?: string } }) : {};
        if (lost.length === 0 && request.method === 'FETCH_MESSAGES') lost.push(request.data?.conversationId);
        else upstream.send(frame);
      });
    });
    await signIn(bob, server.http, 'bob');
    await conversationWith(bob, 'carol').click();
    await bob.getByRole('alert').getByText(/Could not load messages: .*Trying again/).waitFor();
    await message(bob, 'written before bob looked').waitFor();
    expect(lost).toEqual([withBob.id]);
  }, 240_000);

  it('start a group, edit and delete messages, add people and leave', async () => {
    const alice = await person();
    const carol = await person();
    await signIn(alice, server.http, 'alice');
    await signIn(carol, server.http, 'carol');
    alice.on('dialog', (d) => void d.accept());
    carol.on('dialog', (d) => void d.accept());

    await alice.getByRole('button', { name: 'New conversation' }).click();
    const picker = alice.getByRole('dialog', { name: 'New conversation' });
    await picker.getByRole('checkbox').and(alice.locator('[value="' + users.bob + '"]')).check();
    await picker.getByRole('checkbox').and(alice.locator('[value="' + users.carol + '"]')).check();
    await picker.getByRole('button', { name: 'Start' }).click();
    await alice.locator('.who h2').getByText('bob, carol', { exact: true }).waitFor();
    const id = await alice.locator('.conversation.selected').getAttribute('data-conversation-id');
    await say(alice, 'group hello');

    // Carol was invited while online: the conversation appears on her page.
    const group = carol.locator(`.conversation[data-conversation-id="${id}"]`);
    await group.locator('.title').getByText('alice, bob', { exact: true }).waitFor();
    await group.click();
    await message(carol, 'group hello').waitFor();

    await message(alice, 'group hello').hover();
    await message(alice, 'group hello').getByRole('button', { name: 'Edit' }).click();
    const edit = alice.getByRole('textbox', { name: 'Edit message' });
    await edit.fill('group hello, edited');
    await edit.press('Enter');
    await message(carol, 'group hello, edited').locator('.meta', { hasText: 'edited' }).waitFor();
    expect(await message(carol, 'group hello').count()).toBe(0);

    await say(alice, 'a message to take back');
    await message(carol, 'a message to take back').waitFor();
    await message(alice, 'a message to take back').hover();
    await message(alice, 'a message to take back').getByRole('button', { name: 'Delete' }).click();
    await message(carol, 'This message was deleted').waitFor();
    expect(await message(carol, 'a message to take back').count()).toBe(0);

    await alice.getByRole('button', { name: 'Add people' }).click();
    const adder = alice.getByRole('dialog', { name: 'Add people' });
    await adder.getByRole('checkbox').and(alice.locator('[value="' + users.dave + '"]')).check();
    await adder.getByRole('button', { name: 'Add' }).click();
    await carol.locator('.who .status').getByText(/^4 members/).waitFor();
    await carol.locator('.who h2').getByText('alice, bob, dave', { exact: true }).waitFor();
    await screenshot(alice, 'group');

    await carol.getByRole('button', { name: 'Leave' }).click();
    await group.waitFor({ state: 'detached' });
    await alice.locator('.who .status').getByText(/^3 members/).waitFor();
    await alice.getByRole('status').filter({ hasText: 'carol left' }).waitFor();
  }, 240_000);
});
