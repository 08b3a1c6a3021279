/**
 * The one error a client's promises reject with. `code` is either a contract code from an ERROR
 * frame (§2.4) or one of three codes the client itself gives when no answer can come; test `code`,
 * not the message.
 */
import type { ErrorCode } from './frames.js';

/**
 * Raised by the client, never by the server:
 * - `DISCONNECTED`: the link dropped after the request was written, so it may or may not have
 *   taken effect (sends are not rejected this way: they are resent with their `clientMessageId`);
 * - `TIMEOUT`: no answer within `requestTimeoutMs`;
 * - `CLOSED`: `close()` was called, or the client stopped for good (a rejected fixed token).
 */
export type ClientErrorCode = 'DISCONNECTED' | 'TIMEOUT' | 'CLOSED';

export class MassengerError extends Error {
  override name = 'MassengerError';

  constructor(
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
    /** What the server echoed from the request (ERROR frames only). */
    readonly context: { method?: string; requestId?: string; clientMessageId?: string } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
