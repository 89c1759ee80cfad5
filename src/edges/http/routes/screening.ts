import { Type } from 'typebox';
import type { IssuingContext } from '../../../issuing/programs.js';
import { LantauError } from '../../../platform/errors.js';
import { StringEnum, errorResponses } from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import { listVersions } from '../../../compliance/sanctions/list-store.js';
import { screenName } from '../../../compliance/sanctions/screening.js';

const CheckBody = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 300,
      description: 'The name to screen, in any order and script',
    }),
    date_of_birth: Type.Optional(
      Type.String({ format: 'date', description: 'YYYY-MM-DD: raises or lowers a score' }),
    ),
    country: Type.Optional(
      Type.String({
        pattern: '^[A-Z]{2}$',
        description: 'Nationality, ISO 3166-1 alpha-2: weak evidence either way',
      }),
    ),
    kind: Type.Optional(StringEnum(['individual', 'entity'] as const)),
  },
  { additionalProperties: false },
);

const Candidate = Type.Object({
  list: Type.String(),
  reference: Type.String({
    description: 'As the list publishes it: the UN reference number, the OFAC entity number',
  }),
  kind: Type.String(),
  matched_name: Type.String({ description: 'The name or alias that matched' }),
  score: Type.Number({ minimum: 0, maximum: 100 }),
  reasons: Type.Array(Type.String()),
});

const CheckSchema = Type.Object({
  object: Type.Literal('screening_check'),
  decision: StringEnum(['clear', 'potential_match'] as const),
  candidates: Type.Array(Candidate),
  lists: Type.Array(
    Type.Object({ list: Type.String(), version: Type.String(), entry_count: Type.Integer() }),
  ),
});

const VersionSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('sanctions_list_version'),
  list: StringEnum(['un', 'ofac'] as const),
  published_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  entry_count: Type.Integer(),
  sha256: Type.String(),
  loaded_at: Type.String({ format: 'date-time' }),
  loaded_by: Type.String(),
});

export function registerScreeningRoutes(app: LantauApp, context: IssuingContext): void {
  app.post(
    '/v1/screening/checks',
    {
      config: { auth: 'any', scope: 'sanctions:read' },
      schema: {
        summary: 'Screen a name ad hoc against the sanctions lists in use (UN Security Council, OFAC SDN)',
        tags: ['screening'],
        body: CheckBody,
        response: { 200: CheckSchema, ...errorResponses },
      },
    },
    async (request) => {
      const check = await screenName(context.db, {
        name: request.body.name,
        ...(request.body.date_of_birth === undefined ? {} : { dateOfBirth: request.body.date_of_birth }),
        ...(request.body.country === undefined ? {} : { country: request.body.country }),
        ...(request.body.kind === undefined ? {} : { kind: request.body.kind }),
      });
      if (check.lists.length === 0) {
        throw new LantauError(
          'sanctions_lists_missing',
          'No sanctions list is loaded: run lantau sanctions load',
          {
            status: 503,
            type: 'api_error',
          },
        );
      }
      return {
        ...check,
        candidates: check.candidates.map((candidate) => ({ ...candidate, reasons: [...candidate.reasons] })),
        lists: [...check.lists],
      };
    },
  );

  app.get(
    '/v1/sanctions/lists',
    {
      config: { auth: 'any', scope: 'sanctions:read' },
      schema: {
        summary: 'The sanctions list versions loaded, newest first',
        tags: ['screening'],
        response: { 200: Type.Object({ object: Type.Literal('list'), data: Type.Array(VersionSchema) }) },
      },
    },
    async () => ({ object: 'list' as const, data: await listVersions(context.db) }),
  );
}
