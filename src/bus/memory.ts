/**
 * The bus for one node: `publish` hands the event to the handler synchronously, so events arrive
 * in publish order, which the core makes the prevId-chain order of each conversation (it
 * serializes store-then-publish per conversation, style §9).
 */
import type { Bus, BusEvent } from './bus.js';

export class MemoryBus implements Bus {
  #handler: ((event: BusEvent) => void) | null = null;

  async publish(event: Exclude<BusEvent, { type: 'notification' }>): Promise<void> {
    this.#handler?.(event);
  }

  subscribe(handler: (event: BusEvent) => void): void {
    this.#handler = handler;
  }

  /** Publishing hands events over synchronously: nothing is ever on its way. */
  async flush(): Promise<void> {}

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#handler = null;
  }
}
