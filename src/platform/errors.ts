/**
 * The errors every part raises. A part throws a `LantauError` with a stable snake_case `code`; the HTTP edge maps
 * it to the API's error shape by `type` and `status`, the ISO 8583 edge (later) to a response code. Messages
 * are written for the API's user and never carry card data or secrets.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'idempotency_error'
  | 'rate_limit_error'
  | 'api_error';

export interface LantauErrorOptions {
  readonly type?: ErrorType;
  readonly status?: number;
  readonly param?: string;
  readonly cause?: unknown;
}

export class LantauError extends Error {
  readonly type: ErrorType;
  readonly status: number;
  readonly param: string | undefined;

  constructor(
    readonly code: string,
    message: string,
    options: LantauErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LantauError';
    this.type = options.type ?? 'invalid_request_error';
    this.status = options.status ?? 400;
    this.param = options.param;
  }
}

export function invalidRequest(code: string, message: string, param?: string): LantauError {
  return new LantauError(code, message, param === undefined ? {} : { param });
}

export function notFound(resource: string, id: string, param = 'id'): LantauError {
  return new LantauError('resource_missing', `No such ${resource}: '${id}'`, { status: 404, param });
}
