/**
 * What RedisBus puts on node channels: a published event plus the publishing node, as JSON. The
 * event's `text` stays the frame the core encoded once (style §7); only the envelope around it is
 * parsed here, and checked, since anything with access to Redis can publish on a node channel.
 */
import type { ServerMethod } from '../protocol/frames.js';
import type { BusEvent } from './bus.js';

export type Publishable = Exclude<BusEvent, { type: 'notification' }>;
/**
 * The event plus the publishing node, and `echo` when that node addressed it to itself too
 * (self-echoes.ts: it waits for that number to come back).
 */
export type Envelope = Publishable & { node: string; echo?: number };

/** A decoded envelope: the event, who published it, and its echo number if any. */
export interface Received {
  event: Publishable;
  node: string | null;
  echo: number | null;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/** Encodes once per publish, whatever the number of target nodes. */
export function encodeEnvelope(node: string, event: Publishable, echo?: number): string {
  return JSON.stringify((echo === undefined ? { node, ...event } : { node, echo, ...event }) satisfies Envelope);
}

/** Parses and checks an envelope; null when malformed. Never throws. */
export function decodeEnvelope(text: string): Received | null {
  let e: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
    e = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  const event = decodeEvent(e);
  if (event === null) return null;
  return { event, node: isString(e.node) ? e.node : null, echo: typeof e.echo === 'number' ? e.echo : null };
}

function decodeEvent(e: Record<string, unknown>): Publishable | null {
  switch (e.type) {
    case 'deliver':
      // `method` only steers the receiver (TYPING may be dropped under backpressure); text is opaque.
      if (!isStrings(e.userIds) || !isString(e.text) || !isString(e.method)) return null;
      return { type: 'deliver', userIds: e.userIds, text: e.text, method: e.method as ServerMethod };
    case 'message': {
      const o = e.origin as Record<string, unknown> | null | undefined;
      const originOk = o === null || (typeof o === 'object' && isString(o.nodeId) && isString(o.connectionId) && isString(o.text));
      if (!isString(e.conversationId) || !isString(e.messageId) || !(e.prevId === null || isString(e.prevId))) return null;
      if (!isStrings(e.userIds) || !isString(e.text) || !originOk) return null;
      const origin = o === null ? null : { nodeId: o.nodeId as string, connectionId: o.connectionId as string, text: o.text as string };
      const prevInFlight = e.prevInFlight === true;
      return { type: 'message', conversationId: e.conversationId, messageId: e.messageId, prevId: e.prevId, prevInFlight, userIds: e.userIds, text: e.text, origin };
    }
    default:
      return null;
  }
}
