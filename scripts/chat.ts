/**
 * A minimal terminal chat client, so a newcomer can try massenger without another tool:
 * `npm run -s chat -- <token> [ws://host:port/]`. Lines typed are sent to the current
 * conversation (the newest one in INIT, until `/c <id>` picks another); frames received are
 * printed one per line. Commands: /c <id>, /open, /typing, /fetch, /quit.
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
const names = new Map<string, string>();
const ws = new WebSocket(url);
const send = (method: string, data: Record<string, unknown> = {}) => ws.send(JSON.stringify({ method, data }));
const who = (id: string) => `${names.get(id) ?? 'user'}(${id})`;

function show(frame: Frame): string {
  const d = frame.data;
  switch (frame.method) {
    case 'INIT':
      for (const c of d.conversations) for (const u of c.users) names.set(u.id, u.username);
      conversationId = d.conversations[0]?.id ?? null;
      return [
        `signed in as ${who(d.userId)}; online friends: ${d.onlineFriends.map((f: { id: string }) => who(f.id)).join(', ') || 'none'}`,
        ...d.conversations.map((c: any) => `  conversation ${c.id}: ${c.users.map((u: any) => u.username).join(', ')}${c.unread ? ' (unread)' : ''}`),
        `writing to conversation ${conversationId ?? '(none: /c <id>)'}`,
      ].join('\n');
    case 'MESSAGE_SENT':
      return `[${d.message.conversationId}] #${d.message.id} ${who(d.message.author)}: ${d.message.content}`;
    case 'MESSAGES':
      return d.messages.map((m: any) => `[${m.conversationId}] #${m.id} ${who(m.author)}: ${m.content}`).join('\n') || `[${d.conversationId}] no messages`;
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
  const [command, arg] = line.trim().split(/\s+/, 2);
  if (command === '/quit') return ws.close(1000);
  if (command === '/c' && arg !== undefined) {
    conversationId = arg;
    return process.stdout.write(`writing to conversation ${arg}\n`);
  }
  if (conversationId === null) return process.stdout.write('pick a conversation first: /c <id>\n');
  if (command === '/open') return send('OPEN_CONVERSATION', { conversationId });
  if (command === '/typing') return send('TYPING', { conversationId });
  if (command === '/fetch') return send('FETCH_MESSAGES', { conversationId });
  if (line.trim() !== '') send('SEND_MESSAGE', { conversationId, content: line });
});
