/**
 * The `massenger/client` entry point (package.json "exports"): what an app imports. Inside
 * src/client files import each other directly; this file exists only as the package's door.
 */
export { MassengerClient } from './client.js';
export type { ClientEvents, ConnectionState, StateChange } from './session.js';
export type { ClientOptions } from './options.js';
export type { BackoffOptions } from './backoff.js';
export type { TokenSource } from './token.js';
export type { WebSocketConstructor, WebSocketLike } from './link.js';
export { MassengerError, type ClientErrorCode } from './errors.js';
export { ChatState } from './state.js';
export { SERVER_METHODS } from './frames.js';
export type {
  ClientMethod,
  ClientRequests,
  Conversation,
  ConversationUser,
  ErrorCode,
  Id,
  IsoTime,
  Message,
  OnlineFriend,
  ServerEvents,
  ServerFrame,
  ServerMethod,
} from './frames.js';
