/**
 * What a node does with what the bus brings: write already-encoded frames to its own connections.
 * Nothing here awaits between receiving an event and writing to sockets, so the event loop keeps
 * the bus's order (spec §2.3: messages of one conversation reach every member in stored order).
 */
import type { BusEvent } from '../bus/bus.js';
import type { Hub } from './hub.js';
import type { Log } from './log.js';
import { parseNotification } from './notifications.js';

/**
 * The bus hands each event over once (bus.ts), so nothing here remembers what was delivered. The
 * one duplicate a connection can meet is a message its INIT holds arriving live as well: the
 * connection skips it by id (transport/outbound.ts).
 */
export function createReceiver(deps: { hub: Hub; nodeId: string; log: Log }): (event: BusEvent) => void {
  const { hub, nodeId, log } = deps;
  return (event) => {
    switch (event.type) {
      case 'deliver':
        hub.deliver(event.userIds, event.text, event.method);
        return;
      case 'message': {
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
