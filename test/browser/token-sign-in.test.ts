/**
 * The page on a node configured as in production (JWT_SECRET set): there is no development
 * sign-in, so the page asks for a token issued by the main API, signs in with it, and goes back to
 * the sign-in screen with the reason when the server refuses it.
 */
import { rmSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, startServer, tempDir, waitUntilServing, type Server } from '../process/proc.js';
import { signToken, TEST_SECRET } from '../support/node.js';
import { freshDatabase } from '../support/pg.js';
import { needs } from '../support/services.js';
import { connected, ensurePageBuilt, launch, needsChromium, VISIBLE_MS } from './support.js';

describe.runIf(needsChromium())('signing in with a token from the main API', () => {
  const dir = tempDir();
  let server: Server;
  let browser: Browser;
  let database: Awaited<ReturnType<typeof freshDatabase>> | null = null;
  beforeAll(async () => {
    await ensurePageBuilt();
    // The database plays no part here: PostgreSQL when reachable starts faster than the embedded one.
    database = (await needs('postgres')) ? await freshDatabase() : null;
    const started = async () => {
      const s = await startServer({ DATA_DIR: dir, LOG_LEVEL: 'warn', JWT_SECRET: TEST_SECRET, ...(database === null ? {} : { DATABASE_URL: database.url }) });
      await waitUntilServing(s, '/healthz', 90_000);
      return s;
    };
    [server, browser] = await Promise.all([started(), launch()]);
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await killAll();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(VISIBLE_MS);
    await page.goto(server.http);
    return page;
  }

  it('takes a pasted token instead of a list of demo users', async () => {
    const page = await open();
    await page.getByRole('heading', { name: 'Sign in with a token' }).waitFor();
    expect(await page.getByRole('list', { name: 'Demo users' }).count()).toBe(0);
    await page.getByRole('textbox', { name: 'Token' }).fill(await signToken('424242'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await connected(page);
    // A user the main API has not told us about signs in to nothing (README, Tokens).
    await page.getByText('No conversations yet.').waitFor();
  }, 120_000);

  it('goes back to the sign-in screen, saying why, when the token is refused', async () => {
    const page = await open();
    await page.getByRole('textbox', { name: 'Token' }).fill(await signToken('424242', 3600, 'not-the-secret-not-the-secret-not-the-secret'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'token signature is invalid' }).waitFor();
    await page.getByRole('heading', { name: 'Sign in with a token' }).waitFor();
  }, 120_000);
});
