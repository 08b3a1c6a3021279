/**
 * A minimal terminal chat client, so a newcomer can try massenger without another tool:
 * `npm run -s chat -- <token> [ws://host:port/]`. Lines typed are sent to the current
 * conversation (the newest one in INIT, until `/c <id>` picks another); frames received are
 * printed one per line. Commands: /c <id>, /open, /typing, /fetch, /edit <messageId> <text>,
 * /delete <messageId>, /add <userId>..., /leave, /quit. Adding people and leaving go through the
 * HTTP API of the same server (spec §3), with the same token.
 */
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const USAGE = 'usage: npm run -s chat -- <token> [ws://localhost:8080/]';
const [token, url = `ws://localhost:${process.env.PORT ?? 8080}/`] = process.argv.slice(2);
if (token === undefined || token.startsWith('-')) {
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}

interface Frame {
  method: string;
  data: Record<string, any>;
}

let conversationId: string | null = null;
/** This user's id, from INIT: leaving names oneself. */
let me: string | null = null;
const names = new Map<string, string>();
const ws = new WebSocket(url);
const send = (method: string, data: Record<string, unknown> = {}) => ws.send(JSON.stringify({ method, data }));
/** The HTTP API listens where the WebSocket does: ws://host:port/ → http://host:port. */
const httpBase = new URL(url.replace(/^ws/, 'http')).origin;

/** Calls a public HTTP route as this user and prints the answer (the events arrive on the socket). */
async function call(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<void> {
  try {
    const res = await fetch(`${httpBase}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const answer = (await res.json()) as { data: unknown; errors: string | null };
    process.stdout.write(answer.errors === null ? `ok ${JSON.stringify(answer.data)}\n` : `error ${res.status}: ${answer.errors}\n`);
  } catch (err) {
    process.stdout.write(`error: ${(err as Error).message}\n`);
  }
}
const who = (id: string) => `${names.get(id) ?? 'user'}(${id})`;

function show(frame: Frame): string {
  const d = frame.data;
  switch (frame.method) {
    case 'INIT':
      me = d.userId;
      for (const c of d.conversations) for (const u of c.users) names.set(u.id, u.username);
      conversationId = d.conversations[0]?.id ?? null;
      return [
        `signed in as ${who(d.userId)}; online friends: ${d.onlineFriends.map((f: { id: string }) => who(f.id)).join(', ') || 'none'}`,
        ...d.conversations.map(
          (c: any) => `  conversation ${c.id}: ${c.users.map((u: any) => u.username).join(', ')}${c.unreadCount > 0 ? ` (${c.unreadCount === 100 ? '100+' : c.unreadCount} unread)` : ''}`,
        ),
        `writing to conversation ${conversationId ?? '(none: /c <id>)'}`,
      ].join('\n');
    case 'MESSAGE_SENT':
      return `[${d.message.conversationId}] #${d.message.id} ${who(d.message.author)}: ${d.message.content}`;
    case 'MESSAGE_EDITED':
      return `[${d.message.conversationId}] #${d.message.id} ${who(d.message.author)} (edited): ${d.message.content}`;
    case 'MESSAGE_DELETED':
      return `[${d.message.conversationId}] #${d.message.id} ${who(d.message.author)}: (deleted)`;
    case 'MEMBERS_CHANGED': {
      const joined = d.added.length > 0 ? ` added ${d.added.map(who).join(', ')}` : '';
      const left = d.removed.length > 0 ? ` ${d.removed.includes(d.by) ? 'left' : `removed ${d.removed.map(who).join(', ')}`}` : '';
      return `[${d.conversationId}] ${who(d.by)}${joined}${left}`;
    }
    case 'MESSAGES':
      return (
        d.messages.map((m: any) => `[${m.conversationId}] #${m.id} ${who(m.author)}: ${m.deletedAt === null ? m.content : '(deleted)'}`).join('\n') ||
        `[${d.conversationId}] no messages`
      );
    case 'ERROR':
      return `error ${d.code}: ${d.message}`;
    default:
      return `${frame.method} ${JSON.stringify(d)}`;
  }
}

ws.on('open', () => send('AUTHENTICATE', { token }));
ws.on('message', (raw) => process.stdout.write(show(JSON.parse(raw.toString()) as Frame) + '\n'));
ws.on('close', (code, reason) => {
  process.stderr.write(`closed ${code} ${reason.toString()}\n`);
  process.exit(code === 1000 || code === 1005 ? 0 : 1);
});
ws.on('error', (err) => {
  process.stderr.write(`chat: ${err.message}\n`);
  process.exit(1);
});

createInterface({ input: process.stdin }).on('line', (line) => {
  const [command = '', arg] = line.trim().split(/\s+/, 2);
  // Everything after the command and its first argument, spaces kept: the new text of /edit.
  const rest = line.trim().slice(command.length).trim().slice((arg ?? '').length).trimStart();
  if (command === '/quit') return ws.close(1000);
  if (command === '/c' && arg !== undefined) {
    conversationId = arg;
    return process.stdout.write(`writing to conversation ${arg}\n`);
  }
  if (conversationId === null) return process.stdout.write('pick a conversation first: /c <id>\n');
  if (command === '/open') return send('OPEN_CONVERSATION', { conversationId });
  if (command === '/typing') return send('TYPING', { conversationId });
  if (command === '/fetch') return send('FETCH_MESSAGES', { conversationId });
  if (command === '/edit' && arg !== undefined && rest !== '') return send('EDIT_MESSAGE', { messageId: arg, content: rest });
  if (command === '/delete' && arg !== undefined) return send('DELETE_MESSAGE', { messageId: arg });
  if (command === '/add' && arg !== undefined) return void call('POST', `/massenger/${conversationId}/members`, { userIds: line.trim().split(/\s+/).slice(1) });
  if (command === '/leave' && me !== null) return void call('DELETE', `/massenger/${conversationId}/members/${me}`);
  if (command.startsWith('/')) return process.stdout.write('commands: /c <id>, /open, /typing, /fetch, /edit <id> <text>, /delete <id>, /add <userId>..., /leave, /quit\n');
  if (line.trim() !== '') send('SEND_MESSAGE', { conversationId, content: line });
});
