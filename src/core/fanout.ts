/**
 * What a node does with what the bus brings: write already-encoded frames to its own connections.
 * Nothing here awaits between receiving an event and writing to sockets, so the event loop keeps
 * the bus's order (spec §2.3: messages of one conversation reach every member in stored order).
 */
import { LRUCache } from 'lru-cache';
import type { BusEvent } from '../bus/bus.js';
import type { Hub } from './hub.js';
import type { Log } from './log.js';
import { parseNotification } from './notifications.js';

/**
 * Message ids delivered lately, remembered so a message the bus hands over twice (a Redis command
 * that timed out after it had acted, then the local fallback) reaches each connection once. An
 * LRUCache rather than a Set trimmed from its oldest end: a Set's first entry is found by skipping
 * every entry deleted before it, which made this check about 5 µs per message (7% of a node's busy
 * CPU at 5,000 messages/s); the cache's is constant.
 */
const RECENT_MESSAGES = 10_000;

export function createReceiver(deps: { hub: Hub; nodeId: string; log: Log }): (event: BusEvent) => void {
  const { hub, nodeId, log } = deps;
  const recent = new LRUCache<string, true>({ max: RECENT_MESSAGES });
  return (event) => {
    switch (event.type) {
      case 'deliver':
        hub.deliver(event.userIds, event.text, event.method);
        return;
      case 'message': {
        if (recent.has(event.messageId)) {
          log.debug({ messageId: event.messageId }, 'dropped a message delivered before');
          return;
        }
        recent.set(event.messageId, true);
        const origin = event.origin;
        const except = origin !== null && origin.nodeId === nodeId ? { peerId: origin.connectionId, text: origin.text } : undefined;
        hub.deliver(event.userIds, event.text, 'MESSAGE_SENT', except, event.messageId);
        return;
      }
      case 'notification': {
        let body: unknown;
        try {
          body = JSON.parse(event.raw);
        } catch {
          log.warn({ raw: event.raw.slice(0, 200) }, 'dropped a NOTIFICATIONS publish that is not JSON');
          return;
        }
        const notification = parseNotification(body);
        if (notification instanceof Error) {
          log.warn({ reason: notification.message }, 'dropped a malformed NOTIFICATIONS publish');
          return;
        }
        // Every node receives the publish, so each delivers to its own connections only.
        hub.deliver(notification.userIds, notification.text, 'NOTIFICATION_SENT');
        return;
      }
    }
  };
}
