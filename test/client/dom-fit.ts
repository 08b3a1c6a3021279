/**
 * Compile-time check, run by `tsc -p tsconfig.client.json` (DOM lib): the browser's WebSocket
 * fits the constructor the client takes, so `new MassengerClient({ url, token })` works in a page
 * without passing one. Under the Node build there is no DOM WebSocket type and the check is void.
 */
import type { WebSocketConstructor } from '../../src/client/link.js';

type DomWebSocket = typeof globalThis extends { WebSocket: infer W } ? W : never;
declare const browserWebSocket: DomWebSocket;
export const fits: WebSocketConstructor = browserWebSocket;
