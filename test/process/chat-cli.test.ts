/** The terminal chat client (`npm run chat`), against a real node: what a newcomer types reaches a friend. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { befriend, createGroup, createUser } from '../../scripts/support/fixtures.js';
import { signToken, startNode, type TestNode } from '../support/node.js';
import { ensureBuilt, ROOT } from './proc.js';

let t: TestNode | null = null;
let cli: ChildProcessWithoutNullStreams | null = null;

beforeAll(async () => {
  await ensureBuilt();
}, 150_000);
afterEach(async () => {
  cli?.kill('SIGKILL');
  cli = null;
  await t?.close();
  t = null;
});

/** Resolves with everything printed so far once `pattern` appears on stdout. */
function printed(proc: ChildProcessWithoutNullStreams, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms; printed: ${out}`)), timeoutMs);
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
  });
}

describe('chat CLI', () => {
  it('signs in, sends what is typed to the newest conversation and prints what arrives', async () => {
    t = await startNode();
    const alice = await createUser(t.db, 'alice');
    const bob = await createUser(t.db, 'bob');
    const conversation = await befriend(t.db, alice, bob);
    const { client: bobClient } = await t.signIn(bob);

    cli = spawn(process.execPath, [join(ROOT, 'dist/scripts/chat.js'), await signToken(alice), t.ws]);
    const intro = await printed(cli, /writing to conversation/);
    expect(intro).toContain(`signed in as alice(${alice})`);
    expect(intro).toContain(`writing to conversation ${conversation}`);

    cli.stdin.write('hello from the terminal\n');
    const got = await bobClient.next('MESSAGE_SENT');
    expect(got.data.message).toMatchObject({ conversationId: conversation, author: alice, content: 'hello from the terminal' });

    const shown = printed(cli, /from bob/);
    bobClient.send('SEND_MESSAGE', { conversationId: conversation, content: 'from bob' });
    expect(await shown).toMatch(new RegExp(`\\[${conversation}\\] #\\d+ bob\\(${bob}\\): from bob`));
    // A node on the embedded database starts in seconds, more on a loaded machine.
  }, 60_000);

  it('edits, deletes, adds people and leaves: the others see each change, the terminal prints them', async () => {
    t = await startNode();
    const [alice, bob, carol] = [await createUser(t.db, 'alice'), await createUser(t.db, 'bob'), await createUser(t.db, 'carol')];
    const group = await createGroup(t.db, [alice, bob]);
    const { client: bobClient } = await t.signIn(bob);
    const { client: carolClient } = await t.signIn(carol);

    cli = spawn(process.execPath, [join(ROOT, 'dist/scripts/chat.js'), await signToken(alice), t.ws]);
    await printed(cli, /writing to conversation/);
    cli.stdin.write('first draft\n');
    const sent = (await bobClient.next('MESSAGE_SENT')).data.message;

    const shownEdit = printed(cli, /\(edited\): second draft, spaces kept/);
    cli.stdin.write(`/edit ${sent.id} second draft, spaces kept\n`);
    expect((await bobClient.next('MESSAGE_EDITED')).data.message).toMatchObject({ id: sent.id, content: 'second draft, spaces kept' });
    await shownEdit;

    const shownDelete = printed(cli, new RegExp(`#${sent.id} alice\\(${alice}\\): \\(deleted\\)`));
    cli.stdin.write(`/delete ${sent.id}\n`);
    expect((await bobClient.next('MESSAGE_DELETED')).data.message).toMatchObject({ id: sent.id, content: '' });
    await shownDelete;

    cli.stdin.write(`/add ${carol}\n`);
    expect((await carolClient.next('INVITATION_SENT')).data).toEqual({ conversationId: group });
    expect((await bobClient.next('MEMBERS_CHANGED')).data).toEqual({ conversationId: group, added: [carol], removed: [], by: alice });

    const shownLeave = printed(cli, new RegExp(`\\[${group}\\] alice\\(${alice}\\) left`));
    cli.stdin.write('/leave\n');
    expect((await bobClient.next('MEMBERS_CHANGED')).data).toEqual({ conversationId: group, added: [], removed: [alice], by: alice });
    await shownLeave;
    // Starting an embedded node is most of it, and takes long on a loaded machine.
  }, 60_000);

  it('prints a usage line and exits 2 without a token', async () => {
    const proc = spawn(process.execPath, [join(ROOT, 'dist/scripts/chat.js')]);
    let err = '';
    proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise((resolve) => proc.on('exit', resolve));
    expect(code).toBe(2);
    expect(err.trim().split('\n')).toEqual([expect.stringMatching(/^usage: /)]);
  });
});
