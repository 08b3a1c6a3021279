/** HTTP status for each code, used by the HTTP adapter (spec §3). */
export const httpStatus = {
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
export const errorCodes = Object.keys(httpStatus);
export class AppError extends Error {
    code;
    context;
    constructor(code, message, options, context) {
        super(message, options);
        this.code = code;
        this.context = context;
        this.name = 'AppError';
    }
    /** The same error answering a given request. */
    withContext(context) {
        return new AppError(this.code, this.message, { cause: this.cause }, { ...context, ...this.context });
    }
}
/** Anything thrown that is not an AppError is a bug or an untranslated driver error: INTERNAL. */
export function toAppError(err) {
    if (err instanceof AppError)
        return err;
    return new AppError('INTERNAL', 'internal error', { cause: err });
}
