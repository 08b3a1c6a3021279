/**
 * What a node does with a bus event before fanout.ts writes it to sockets: leave out the users who
 * left its conversation (departures.ts), and give a change's requesting connection its own copy
 * (replies.ts). Synchronous like the receiver it wraps, so the bus's order reaches the sockets.
 */
import type { BusEvent } from '../bus/bus.js';
import type { Departures } from './departures.js';
import type { Hub } from './hub.js';
import type { Replies } from './replies.js';

export function guardReceiver(
  receive: (event: BusEvent) => void,
  deps: { departures: Departures; replies: Replies; hub: Pick<Hub, 'deliver'> },
): (event: BusEvent) => void {
  const { departures, replies, hub } = deps;
  return (event) => {
    if (event.type === 'notification') return receive(event);
    const admitted = departures.admit(event);
    if (admitted === null) return;
    if (admitted.type === 'deliver' && replies.size > 0) {
      const own = replies.take(admitted.text);
      if (own !== undefined) {
        hub.deliver(admitted.userIds, admitted.text, admitted.method, own);
        return;
      }
    }
    receive(admitted);
  };
}
