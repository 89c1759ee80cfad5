import { Type, type TSchema } from 'typebox';

/** The API's one error shape (DESIGN.md): `{ "error": { type, code, message, param, request_id } }`. */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      type: Type.String({
        description:
          'invalid_request_error, authentication_error, permission_error, idempotency_error, rate_limit_error or api_error',
      }),
      code: Type.String({ description: 'A stable snake_case code to branch on' }),
      message: Type.String(),
      param: Type.Optional(Type.String({ description: 'The request field at fault, as `address[city]`' })),
      request_id: Type.String(),
    }),
  },
  { $id: 'Error', title: 'Error' },
);

export const IdString = (prefix?: string) =>
  Type.String({
    pattern:
      prefix === undefined
        ? '^[a-z][a-z0-9]{0,15}_[0-9a-hjkmnp-tv-z]{26}$'
        : `^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`,
    maxLength: 43,
  });

export const PaginationQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100, description: 'Page size, 1 to 100 (default 10)' }),
    ),
    starting_after: Type.Optional(IdString()),
    ending_before: Type.Optional(IdString()),
  },
  { additionalProperties: false },
);

export function ListOf<T extends TSchema>(item: T) {
  return Type.Object({
    object: Type.Literal('list'),
    url: Type.String(),
    has_more: Type.Boolean(),
    data: Type.Array(item),
  });
}

/** Error responses every authenticated route can give, for the OpenAPI document. */
export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
} as const;

/** A string that must be one of `values`, typed as their union (TypeBox infers `never` from a mapped Union). */
export function StringEnum<T extends string>(values: readonly T[], options: { description?: string } = {}) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
}

/**
 * `metadata` in requests: up to 50 keys of 1 to 40 characters, string values of at most 500 (Stripe's limits).
 * Written out rather than with Type.Record, whose `^.*$` key pattern lets a key with a line break skip every rule.
 */
export const MetadataInput = Type.Unsafe<Record<string, string>>({
  type: 'object',
  propertyNames: { minLength: 1, maxLength: 40 },
  additionalProperties: { type: 'string', maxLength: 500 },
  maxProperties: 50,
  description: 'Up to 50 keys of your own (1 to 40 characters), string values of at most 500 characters',
});
