/**
 * WebSocket close codes (spec §2.4). Each notes whether a client should reconnect.
 */

/** Authentication failed or did not arrive in time. Reconnect only with a fresh token. */
export const CLOSE_AUTH = 4401;
/** The client read too slowly (its unsent buffer passed MAX_BUFFERED_BYTES). Reconnect, then catch up with `lastMessageId`. */
export const CLOSE_SLOW = 4408;
/** The client kept exceeding its rate limit. Reconnect after a back-off. */
export const CLOSE_RATE = 4429;
/** A frame was larger than MAX_FRAME_BYTES (sent by ws itself through `maxPayload`). Fix the client; reconnecting resends the same frame. */
export const CLOSE_TOO_BIG = 1009;
/** The server is shutting down. Reconnect (another node, or this one after restart). */
export const CLOSE_SHUTDOWN = 1001;
