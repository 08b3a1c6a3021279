/**
 * What the browser suites share: Debian's Chromium driven by playwright-core (never a browser
 * that Playwright downloads), the chat page built, a real `node dist/src/main.js` on the embedded
 * defaults with no JWT settings (the two-minute demo), and helpers that find what a person sees.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { buildOnce, ensureBuilt, newestMtime, ROOT, startServer, waitUntilServing, type Server } from '../process/proc.js';
import { CI } from '../support/services.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = join(ROOT, 'docs/screenshots');
/** How long a person-visible state may take on a loaded 2-core machine (a reconnect backs off up to 30 s). */
export const VISIBLE_MS = 45_000;

/**
 * Whether the browser suites run. With CI=true a missing Chromium fails the run (.ci/run installs
 * it); elsewhere the suites are skipped with a visible message.
 */
export function needsChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (CI) throw new Error(`CI=true but ${CHROMIUM} is missing (apt-get install -y chromium)`);
  console.warn(`\n*** ${CHROMIUM} is missing: skipping the browser suites (apt-get install -y chromium; set CI=true to make this an error) ***\n`);
  return false;
}

/**
 * Headless Chromium with a fresh profile: playwright's launch() gives every browser a new
 * temporary user-data dir, and every context is isolated from the others (two people, two contexts).
 * The flags keep it off the network beyond loopback: no background, component or sync traffic.
 */
export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * The server and the page built: `npm test` builds both first; a suite run alone builds what is
 * missing or older than its sources.
 */
export async function ensurePageBuilt(): Promise<void> {
  await ensureBuilt();
  const index = join(ROOT, 'dist/web/index.html');
  const stale = () => !existsSync(index) || Math.max(newestMtime(join(ROOT, 'web')), newestMtime(join(ROOT, 'src/client'))) > statSync(index).mtimeMs;
  await buildOnce('.test-web-build-lock', stale, () => {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(ROOT, 'web/vite.config.ts')], { cwd: ROOT, stdio: 'ignore', timeout: 120_000 });
  });
}

/** `node dist/src/main.js` as `npm start` runs it: embedded database in `dataDir`, no JWT settings. */
export async function startDemo(dataDir: string, port?: number): Promise<Server> {
  const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...(port === undefined ? {} : { PORT: String(port) }) });
  await waitUntilServing(server, '/healthz', 90_000);
  return server;
}

/** Opens the page and signs in as a demo user with one click, as a person would. */
export async function signIn(page: Page, url: string, username: string): Promise<void> {
  page.setDefaultTimeout(VISIBLE_MS);
  await page.goto(url);
  await page.getByRole('list', { name: 'Demo users' }).getByRole('button', { name: username, exact: true }).click();
  await connected(page);
}

/** Waits until the page says it is connected (its client signed in). */
export async function connected(page: Page): Promise<void> {
  await page.locator('.connection[data-state="open"]').waitFor();
}

/** The private conversation with `username` in the sidebar (its title is exactly that name). */
export function conversationWith(page: Page, username: string): Locator {
  return page.getByRole('list', { name: 'Conversations' }).locator('.conversation').filter({ has: page.locator('.title').getByText(username, { exact: true }) });
}

/** The open conversation's messages (stored ones, and sends still on their way). */
export function messages(page: Page): Locator {
  return page.getByRole('list', { name: 'Messages' }).locator('.message');
}

/** A stored or pending message with exactly this text. */
export function message(page: Page, text: string): Locator {
  return messages(page).filter({ has: page.locator('.text').getByText(text, { exact: true }) });
}

/** Types like a person (so TYPING goes out) and sends with Enter. */
export async function say(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  await box.pressSequentially(text);
  await box.press('Enter');
}

/** A picture of the page for docs/screenshots (the README shows them). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}
