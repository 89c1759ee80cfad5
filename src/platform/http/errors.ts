import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { LantauError, type ErrorType } from '../errors.js';

export interface ErrorPayload {
  readonly error: {
    readonly type: ErrorType;
    readonly code: string;
    readonly message: string;
    readonly param?: string;
    readonly request_id: string;
  };
}

export function errorPayload(error: LantauError, requestId: string): ErrorPayload {
  return {
    error: {
      type: error.type,
      code: error.code,
      message: error.message,
      ...(error.param === undefined ? {} : { param: error.param }),
      request_id: requestId,
    },
  };
}

interface AjvError {
  readonly keyword: string;
  readonly instancePath: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
}

/** `/address/city` and `/items/0` become Stripe's `address[city]` and `items[0]`. */
export function paramName(pointer: string, child?: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  const [first, ...rest] = parts;
  return first === undefined ? '' : first + rest.map((part) => `[${part}]`).join('');
}

function describeAjvError(error: AjvError, context: string): LantauError {
  const where = context === 'body' ? '' : ` in the ${context === 'querystring' ? 'query string' : context}`;
  switch (error.keyword) {
    case 'additionalProperties': {
      const param = paramName(error.instancePath, String(error.params.additionalProperty));
      return new LantauError('parameter_unknown', `Received unknown parameter${where}: ${param}`, { param });
    }
    case 'required': {
      const param = paramName(error.instancePath, String(error.params.missingProperty));
      return new LantauError('parameter_missing', `Missing required parameter${where}: ${param}`, { param });
    }
    default: {
      const param = paramName(error.instancePath);
      if (param === '') {
        return new LantauError(
          'parameter_invalid',
          `Invalid request ${context}: ${error.message ?? 'not valid'}`,
        );
      }
      return new LantauError(
        'parameter_invalid',
        `Invalid ${param}${where}: ${error.message ?? 'not valid'}`,
        { param },
      );
    }
  }
}

/** Fastify's own 4xx errors (bad JSON, wrong content type, too large) in the API's words. */
function fromFastifyError(error: FastifyError): LantauError | undefined {
  if (error.validation !== undefined) {
    const first = error.validation[0] as AjvError | undefined;
    if (first !== undefined) return describeAjvError(first, error.validationContext ?? 'body');
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new LantauError('invalid_json', 'The request body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new LantauError('unsupported_media_type', 'Send the request body as application/json', {
        status: 415,
      });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new LantauError('body_too_large', 'The request body is too large', { status: 413 });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new LantauError('invalid_content_length', 'The Content-Length header does not match the body');
    default:
      break;
  }
  if (error instanceof SyntaxError || /JSON/.test(error.message)) {
    return new LantauError('invalid_json', 'The request body is not valid JSON');
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new LantauError('invalid_request', 'The request could not be read', { status: error.statusCode });
  }
  return undefined;
}

export function toLantauError(error: unknown): LantauError {
  if (error instanceof LantauError) return error;
  if (error instanceof Error) {
    const known = fromFastifyError(error as FastifyError);
    if (known !== undefined) return known;
  }
  return new LantauError(
    'internal_error',
    'Something went wrong on our side; the request id helps us find it',
    {
      type: 'api_error',
      status: 500,
    },
  );
}

export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): ErrorPayload {
  const lantauError = toLantauError(error);
  if (lantauError.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.info({ code: lantauError.code, param: lantauError.param }, 'request refused');
  }
  void reply.code(lantauError.status);
  return errorPayload(lantauError, request.id);
}
