/**
 * What RedisBus puts on node channels: a published event plus the publishing node, as JSON. The
 * event's `text` stays the frame the core encoded once (style §7); only the envelope around it is
 * parsed here, and checked, since anything with access to Redis can publish on a node channel.
 */
import type { ServerMethod } from '../protocol/frames.js';
import type { BusEvent } from './bus.js';

export type Publishable = Exclude<BusEvent, { type: 'notification' }>;
/** The event plus the publishing node (for logs). */
export type Envelope = Publishable & { node: string };

const isString = (v: unknown): v is string => typeof v === 'string';
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/** Encodes once per publish, whatever the number of target nodes. */
export function encodeEnvelope(node: string, event: Publishable): string {
  return JSON.stringify({ node, ...event } satisfies Envelope);
}

/** Parses and checks an envelope; null when malformed. Never throws. */
export function decodeEnvelope(text: string): Publishable | null {
  let e: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
    e = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
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
