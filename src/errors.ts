/**
 * The one error registry (spec §2.4). The `code` is the contract that clients and tests rely on;
 * the message is for people and may change.
 */
export type ErrorCode =
  | 'BAD_FRAME'
  | 'UNKNOWN_METHOD'
  | 'INVALID_DATA'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** HTTP status for each code, used by the HTTP adapter (spec §3). */
export const httpStatus: Record<ErrorCode, number> = {
  BAD_FRAME: 400,
  UNKNOWN_METHOD: 400,
  INVALID_DATA: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export const errorCodes = Object.keys(httpStatus) as ErrorCode[];

/** Which request an error answers, so the ERROR frame can echo it (spec §2.2). */
export interface ErrorContext {
  method?: string | undefined;
  requestId?: string | undefined;
  clientMessageId?: string | undefined;
}

/**
 * An answer to a request, not a bug: it carries no stack trace (capturing one costs more than the
 * rest of a refusal, and an overloaded node refuses thousands a second). An INTERNAL error keeps
 * the failure that caused it, with its stack, as `cause`.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly context?: ErrorContext;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions, context?: ErrorContext) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, options);
    Error.stackTraceLimit = limit;
    this.code = code;
    this.context = context;
    this.name = 'AppError';
  }

  /** The same error answering a given request. */
  withContext(context: ErrorContext): AppError {
    return new AppError(this.code, this.message, { cause: this.cause }, { ...context, ...this.context });
  }
}

/** Spec §2.3: a non-member and an unknown conversation get the same answer, wherever it is decided. */
export function conversationNotFound(): AppError {
  return new AppError('NOT_FOUND', 'conversation not found');
}

/** Anything thrown that is not an AppError is a bug or an untranslated driver error: INTERNAL. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return new AppError('INTERNAL', 'internal error', { cause: err });
}
