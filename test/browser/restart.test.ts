/**
 * A server restart under two open pages (`node dist/src/main.js` stopped and started again on the
 * same port and data directory): both pages reconnect by themselves, a message written while the
 * server was down is delivered once, and nothing sent before is lost or shown twice, also after a
 * reload.
 */
import { rmSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, stop, tempDir, type Server } from '../process/proc.js';
import { connected, conversationWith, ensurePageBuilt, launch, message, messages, needsChromium, say, screenshot, signIn, startDemo } from './support.js';

describe.runIf(needsChromium())('a server restart under open pages', () => {
  const dir = tempDir();
  let server: Server;
  let browser: Browser;
  beforeAll(async () => {
    await ensurePageBuilt();
    [server, browser] = await Promise.all([startDemo(dir), launch()]);
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  async function person(username: string, other: string): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1100, height: 700 } })).newPage();
    await signIn(page, server.http, username);
    await conversationWith(page, other).click();
    return page;
  }

  /** The texts of the open conversation's messages, in the order shown. */
  const shown = async (page: Page) => page.locator('.messages .message .text').allTextContents();

  it('loses nothing and duplicates nothing', async () => {
    const alice = await person('alice', 'dave');
    const dave = await person('dave', 'alice');
    for (const text of ['before 1', 'before 2', 'before 3']) {
      await say(alice, text);
      await message(dave, text).waitFor();
    }

    const port = server.port;
    expect((await stop(server)).code).toBe(0);
    for (const page of [alice, dave]) await page.locator('.connection[data-state="reconnecting"]').waitFor();

    // Written while the server is down: shown as on its way, then sent once it is back.
    await say(alice, 'during the restart');
    await message(alice, 'during the restart').and(alice.locator('.pending')).waitFor();
    await screenshot(alice, 'reconnecting');

    server = await startDemo(dir, port);
    await Promise.all([connected(alice), connected(dave)]);
    await message(dave, 'during the restart').waitFor();
    await message(alice, 'during the restart').and(alice.locator('.pending')).waitFor({ state: 'detached' });
    await say(dave, 'after the restart');
    await message(alice, 'after the restart').waitFor();

    const expected = ['before 1', 'before 2', 'before 3', 'during the restart', 'after the restart'];
    for (const page of [alice, dave]) {
      expect(await shown(page)).toEqual(expected);
      expect(await messages(page).count()).toBe(expected.length);
    }

    // The stored history holds each message once too.
    await dave.reload();
    await connected(dave);
    await conversationWith(dave, 'alice').click();
    await message(dave, 'after the restart').waitFor();
    await dave.getByText('This is the beginning of the conversation.').waitFor();
    expect(await shown(dave)).toEqual(expected);
  }, 300_000);
});
