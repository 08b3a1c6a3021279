/**
 * kill -9 of the real process (`node dist/src/main.js`) under chat load from many clients, on
 * PostgreSQL and on the embedded default (PGlite in DATA_DIR). Spec §2.3: the sender's
 * MESSAGE_SENT means the message is durable, and a clientMessageId is idempotent per author. So
 * after the kill every acknowledged message is in the database, once, with the acknowledged id;
 * and once a new process runs, clients that send their unanswered messages again with the same
 * clientMessageId get each stored exactly once: those the dead process had stored come back as
 * the original message.
 */
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../src/build.js';
import { loadConfig } from '../../src/config.js';
import { migrate } from '../../src/store/migrate.js';
import type { Db } from '../../src/store/store.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';
import { TEST_SECRET } from '../support/node.js';
import { freshDatabase } from '../support/pg.js';
import { needs } from '../support/services.js';
import { ensureBuilt, killAll, startServer, tempDir, waitUntilServing, type Server } from '../process/proc.js';
import { ChatSender, expectDurableAndChained, outcomes, resendUntilAcked, STORED_SQL, type SendRecord, type StoredMessage } from './chat-load.js';

const GROUPS = 10;
const MEMBERS = 4;
/** Unanswered sends each client keeps in flight: enough that the kill always cuts some off. */
const WINDOW = 4;

interface Target {
  name: string;
  /** The database settings of the process (DATABASE_URL, or DATA_DIR for the embedded one). */
  env: Record<string, string>;
  /** Acknowledgements to wait for before the kill. */
  ackedBeforeKill: number;
  cleanup(): Promise<void>;
}

/** Runs `fn` on the target's database, opened from this process (never while a server holds PGlite's directory). */
async function withDb<T>(target: Target, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = openDb(loadConfig(target.env));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function serve(target: Target): Promise<Server> {
  // The clients send as fast as they are answered: no rate limit gets in the way of the load.
  const server = await startServer({ ...target.env, JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'warn', RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' });
  await waitUntilServing(server, '/readyz', 60_000);
  return server;
}

/** PostgreSQL when reachable (required with CI=true), and always the embedded database. */
async function targets(): Promise<Array<{ name: string; make: () => Promise<Target> }>> {
  const embedded = {
    name: 'embedded PGlite',
    async make(): Promise<Target> {
      const dir = tempDir();
      return { name: 'embedded PGlite', env: { DATA_DIR: dir }, ackedBeforeKill: 300, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  };
  const postgres = {
    name: 'PostgreSQL',
    async make(): Promise<Target> {
      const database = await freshDatabase();
      return { name: 'PostgreSQL', env: { DATABASE_URL: database.url }, ackedBeforeKill: 1500, cleanup: database.drop };
    },
  };
  return (await needs('postgres')) ? [postgres, embedded] : [embedded];
}

for (const { name, make } of await targets()) {
  describe(`kill -9 under chat load (${name})`, () => {
    let target: Target;
    /** Each client and the conversation it sends to. */
    const senders: Array<{ sender: ChatSender; conversationId: string }> = [];
    beforeAll(async () => {
      await ensureBuilt();
      target = await make();
    }, 150_000);
    afterEach(async () => {
      for (const { sender } of senders.splice(0)) sender.close();
      await killAll();
    });
    afterAll(async () => {
      await target?.cleanup();
    });

    it('keeps every acknowledged message, and resends by clientMessageId store each once', async () => {
      // Users and conversations, written before the first process starts.
      const conversations = await withDb(target, async (db) => {
        await migrate(db);
        const groups = new Map<string, string[]>();
        for (let g = 0; g < GROUPS; g++) {
          const members: string[] = [];
          for (let m = 0; m < MEMBERS; m++) members.push(await createUser(db, `kill_${g}_${m}`));
          groups.set(await createGroup(db, members), members);
        }
        return groups;
      });
      const conversationIds = [...conversations.keys()];
      const read = () => withDb(target, async (db) => (await db.query<StoredMessage>(STORED_SQL, [conversationIds])).rows);

      const first = await serve(target);
      for (const [conversationId, members] of conversations) {
        for (const userId of members) senders.push({ sender: await ChatSender.signIn(first.ws, userId, 'kill'), conversationId });
      }
      // Each client keeps WINDOW sends in flight, sending the next as soon as one is answered.
      let loading = true;
      for (const { sender, conversationId } of senders) {
        const pump = () => {
          while (loading && sender.closedWith === null && sender.outstanding < WINDOW) sender.send(conversationId);
        };
        sender.client.ws.on('message', pump);
        pump();
      }
      const acked = () => senders.reduce((n, { sender }) => n + sender.records.filter((r) => r.answer?.method === 'MESSAGE_SENT').length, 0);
      await waitUntil(() => acked() >= target.ackedBeforeKill, `${target.ackedBeforeKill} acknowledgements`, 60_000);
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      loading = false;
      await waitUntil(() => senders.every(({ sender }) => sender.closedWith !== null), 'every connection closed by the kill', 10_000);

      // After the kill: every acknowledged message is stored once, with its id.
      const records = senders.flatMap(({ sender }) => sender.records);
      const before = outcomes(records);
      expect(before.unanswered.length, 'sends in flight at the kill').toBeGreaterThan(0);
      const storedAtKill = await read();
      expectDurableAndChained(before.acked, storedAtKill);
      const storedIds = new Map(storedAtKill.map((m) => [m.clientMessageId, m.id]));
      const storedUnacked = [...before.unanswered, ...before.refused].filter((r) => storedIds.has(r.clientMessageId));

      // A new process; each client signs in again and sends what was not acknowledged, same clientMessageId.
      const second = await serve(target);
      const toResend: Array<{ sender: ChatSender; record: SendRecord }> = [];
      for (const { sender: old, conversationId } of senders.splice(0)) {
        const again = await ChatSender.signIn(second.ws, old.userId, 'kill');
        senders.push({ sender: again, conversationId });
        for (const record of old.records.filter((x) => x.answer?.method !== 'MESSAGE_SENT')) toResend.push({ sender: again, record });
      }
      const { acked: resent, rounds } = await resendUntilAcked(toResend, 30_000);
      for (const r of resent.filter((x) => storedIds.has(x.clientMessageId))) {
        expect((r.answer as { message: { id: string } }).message.id, 'a resend of a message stored before the kill').toBe(storedIds.get(r.clientMessageId));
      }
      // PGlite's directory belongs to one process: the server lets go of it before the last read.
      second.child.kill('SIGTERM');
      await second.exited;
      const storedAfter = await read();
      expectDurableAndChained([...before.acked, ...resent], storedAfter);
      expect(storedAfter.length).toBe(new Set(records.map((r) => r.clientMessageId)).size);

      console.log(
        `[faults] kill -9 on ${target.name} under ${records.length} sends from ${senders.length} clients: ${before.acked.length} acknowledged, all stored; ` +
          `${before.unanswered.length} in flight and ${before.refused.length} refused at the kill, ${storedUnacked.length} of those stored anyway; ` +
          `after the restart ${resent.length} resent (in ${rounds} round(s)), ${storedUnacked.length} answered with the original, ${storedAfter.length} stored in all, none twice`,
      );
    }, 150_000);
  });
}
