import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import {
  CARDHOLDER_COLUMNS,
  CARDHOLDER_STATUSES,
  KYC_STATUSES,
  createCardholder,
  emailBlindIndex,
  getCardholder,
  presentCardholder,
  updateCardholder,
  type Cardholder,
  type CardholderRow,
} from '../../../issuing/cardholders.js';
import { SCREENING_STATUSES } from '../../../issuing/cardholder-screening.js';
import { warmScreening } from '../../../compliance/sanctions/screening.js';
import type { IssuingContext } from '../../../issuing/programs.js';
import { SpendingControlsSchema } from '../../../issuing/spending-controls.js';
import { LantauError } from '../../../platform/errors.js';
import type { ErrorPayload } from '../../../platform/http/errors.js';
import { ListFilters, listPage, timeQuery } from '../../../platform/http/pagination.js';
import {
  IdString,
  ListOf,
  PaginationQuery,
  StringEnum,
  errorResponses,
} from '../../../platform/http/schemas.js';
import { MetadataInput } from '../../../platform/http/schemas.js';
import type { LantauApp } from '../../../platform/http/server.js';
import type { Keyring } from '../../../vault/keyring.js';
import { actorOf, programScopeOf } from '../actor.js';

export const Metadata = MetadataInput;
export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 alpha-3' });
const Country = Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

const CardholderStatus = StringEnum(CARDHOLDER_STATUSES);
const KycStatus = StringEnum(KYC_STATUSES, {
  description: 'Moved by verifications (POST /v1/cardholders/{id}/verifications); read-only here',
});

const AddressBody = Type.Object(
  {
    line1: Type.String({ minLength: 1, maxLength: 200 }),
    line2: Type.Optional(Type.String({ maxLength: 200 })),
    city: Type.String({ minLength: 1, maxLength: 200 }),
    state: Type.Optional(Type.String({ maxLength: 200 })),
    postal_code: Type.Optional(Type.String({ maxLength: 20 })),
    country: Country,
  },
  { additionalProperties: false },
);

const personalFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  email: Type.String({ format: 'email', maxLength: 254 }),
  phone_number: Type.String({ pattern: '^\\+[1-9][0-9]{1,14}$', description: 'E.164, such as +85291234567' }),
  date_of_birth: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'YYYY-MM-DD' }),
  nationality: Country,
  occupation: Type.String({ minLength: 1, maxLength: 200, description: 'As the cardholder stated it' }),
  address: AddressBody,
  ip_address: Type.String({
    minLength: 2,
    maxLength: 45,
    description: 'Where the cardholder onboarded: IPv4 or IPv6',
  }),
  device_id: Type.String({
    minLength: 1,
    maxLength: 200,
    description: 'Your identifier of the onboarding device',
  }),
};

const CreateCardholderBody = Type.Object(
  {
    name: personalFields.name,
    email: Type.Optional(personalFields.email),
    phone_number: Type.Optional(personalFields.phone_number),
    date_of_birth: Type.Optional(personalFields.date_of_birth),
    nationality: Type.Optional(personalFields.nationality),
    occupation: Type.Optional(personalFields.occupation),
    address: Type.Optional(personalFields.address),
    ip_address: Type.Optional(personalFields.ip_address),
    device_id: Type.Optional(personalFields.device_id),
    spending_controls: Type.Optional(SpendingControlsSchema),
    metadata: Type.Optional(Metadata),
    status: Type.Optional(CardholderStatus),
  },
  { additionalProperties: false },
);

const UpdateCardholderBody = Type.Object(
  {
    name: Type.Optional(personalFields.name),
    email: Type.Optional(Nullable(personalFields.email)),
    phone_number: Type.Optional(Nullable(personalFields.phone_number)),
    date_of_birth: Type.Optional(Nullable(personalFields.date_of_birth)),
    nationality: Type.Optional(Nullable(personalFields.nationality)),
    occupation: Type.Optional(Nullable(personalFields.occupation)),
    address: Type.Optional(Nullable(personalFields.address)),
    ip_address: Type.Optional(Nullable(personalFields.ip_address)),
    device_id: Type.Optional(Nullable(personalFields.device_id)),
    spending_controls: Type.Optional(SpendingControlsSchema),
    metadata: Type.Optional(Metadata),
    status: Type.Optional(CardholderStatus),
  },
  { additionalProperties: false, minProperties: 1 },
);

const NullableString = Type.Union([Type.String(), Type.Null()]);

export const CardholderSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('cardholder'),
    program_id: Type.String(),
    name: Type.String(),
    email: NullableString,
    phone_number: NullableString,
    date_of_birth: NullableString,
    nationality: NullableString,
    occupation: NullableString,
    address: Type.Union([
      Type.Object({
        line1: Type.String(),
        line2: NullableString,
        city: Type.String(),
        state: NullableString,
        postal_code: NullableString,
        country: Type.String(),
      }),
      Type.Null(),
    ]),
    ip_address: NullableString,
    device_id: NullableString,
    kyc_status: KycStatus,
    screening_status: StringEnum(SCREENING_STATUSES, {
      description:
        'Sanctions screening: potential_match while an alert awaits a person (no cards issued, no loads or unloads), confirmed_match after one is confirmed',
    }),
    status: CardholderStatus,
    spending_controls: SpendingControlsSchema,
    metadata: Type.Record(Type.String(), Type.String()),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
  },
  { $id: 'Cardholder', title: 'Cardholder' },
);

const CardholderListQuery = Type.Object(
  {
    ...PaginationQuery.properties,
    email: Type.Optional(Type.String({ maxLength: 254, description: 'Exact match, ignoring case' })),
    status: Type.Optional(CardholderStatus),
    kyc_status: Type.Optional(StringEnum(KYC_STATUSES)),
    screening_status: Type.Optional(StringEnum(SCREENING_STATUSES)),
    'created[gte]': Type.Optional(Type.String({ format: 'date-time' })),
    'created[lte]': Type.Optional(Type.String({ format: 'date-time' })),
    program_id: Type.Optional(IdString('prog')),
  },
  { additionalProperties: false },
);

const CardholderParams = Type.Object({ id: IdString('chd') });

/**
 * What the idempotency store keeps for a cardholder answer. The store is a table, and personal data is never in a
 * table in the clear, so the answer is sealed with the `pii` key, bound to the cardholder; a replay opens it and
 * answers exactly what the first request did. It lives as long as the key (24 hours) and is not re-encrypted on
 * rotation: if its key version was retired meanwhile, the replay answers the cardholder as it is now.
 */
interface SealedAnswer {
  readonly object: 'sealed_cardholder';
  readonly id: string;
  readonly sealed: string;
}

const sealedAnswerAad = (id: string) => `idempotency_keys.response_body:${id}`;

function sealAnswer(vault: Keyring, cardholder: Cardholder): SealedAnswer {
  const ciphertext = vault.encrypt(
    'pii',
    Buffer.from(JSON.stringify(cardholder), 'utf8'),
    sealedAnswerAad(cardholder.id),
  );
  return { object: 'sealed_cardholder', id: cardholder.id, sealed: ciphertext.toString('base64') };
}

async function openAnswer(
  context: IssuingContext,
  answer: SealedAnswer | ErrorPayload,
  programScope: string | undefined,
): Promise<Cardholder | ErrorPayload> {
  if ('error' in answer) return answer;
  try {
    const plaintext = await context.vault.decrypt(
      Buffer.from(answer.sealed, 'base64'),
      sealedAnswerAad(answer.id),
    );
    // An answer sealed before cardholders had an occupation lacks it: they had given none.
    const cardholder = JSON.parse(plaintext.toString('utf8')) as Omit<Cardholder, 'occupation'> & {
      readonly occupation?: string | null;
    };
    return { ...cardholder, occupation: cardholder.occupation ?? null };
  } catch (error) {
    if (!(error instanceof LantauError)) throw error;
    return getCardholder(context.db, context.vault, answer.id, programScope);
  }
}

/**
 * Runs a mutation whose transaction decrypts with keys already in memory. If another process rotated the `pii`
 * key since this one last reloaded, the first run fails before writing anything; reload and run it once more.
 */
async function withFreshKeys<T>(vault: Keyring, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof LantauError) || error.code !== 'data_key_unknown') throw error;
    await vault.refresh();
    return run();
  }
}

/**
 * A list's query string can carry personal data (`?email=`), and Fastify logs each request's URL. This route logs
 * the request with its parameter names only; the values stay out of the logs.
 */
export function withoutQueryValues(url: string): string {
  const [path = '', query] = url.split('?', 2);
  if (query === undefined) return path;
  const names = query.split('&').map((pair) => `${pair.split('=', 1)[0] ?? ''}=[REDACTED]`);
  return `${path}?${names.join('&')}`;
}

const queryRedactingLog = {
  req: (request: FastifyRequest) => ({
    method: request.method,
    url: withoutQueryValues(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket.remotePort,
  }),
};

/** Cardholders: the people a programme issues to. Personal data is encrypted at rest and found by blind index. */
export function registerCardholderRoutes(app: LantauApp, context: IssuingContext): void {
  app.post(
    '/v1/cardholders',
    {
      config: { auth: 'program', scope: 'cardholders:write' },
      schema: {
        summary: 'Create a cardholder',
        tags: ['cardholders'],
        body: CreateCardholderBody,
        response: { 201: Type.Ref('Cardholder'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programId = programScopeOf(request);
      if (programId === undefined) throw new Error('a programme route without a programme principal');
      // Screening builds its index for newly loaded lists here, not in the transaction.
      await warmScreening(context.db);
      const answer = await reply.mutate(201, async (tx) =>
        sealAnswer(
          context.vault,
          await createCardholder(tx, context, programId, request.body, actorOf(request)),
        ),
      );
      return openAnswer(context, answer, programId);
    },
  );

  app.get(
    '/v1/cardholders',
    {
      config: { auth: 'any', scope: 'cardholders:read' },
      logSerializers: queryRedactingLog,
      schema: {
        summary: 'List cardholders, newest first',
        tags: ['cardholders'],
        querystring: CardholderListQuery,
        response: { 200: ListOf(Type.Ref('Cardholder')), ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query;
      // Confined to a programme key's own programme; the operator may narrow to one with `program_id`.
      const { where, params } = new ListFilters()
        .add('program_id = $?', programScopeOf(request))
        .add('program_id = $?', query.program_id)
        .add(
          'email_index = $?',
          query.email === undefined ? undefined : emailBlindIndex(context.vault, query.email),
        )
        .add('status = $?', query.status)
        .add('kyc_status = $?', query.kyc_status)
        .add('screening_status = $?', query.screening_status)
        .add('created_at >= $?', timeQuery(query['created[gte]'], 'created[gte]'))
        .add('created_at <= $?', timeQuery(query['created[lte]'], 'created[lte]'));
      const page = await listPage(
        context.db,
        { select: `SELECT ${CARDHOLDER_COLUMNS} FROM cardholders`, where, params },
        query,
        '/v1/cardholders',
        (row: CardholderRow) => row,
      );
      return {
        ...page,
        data: await Promise.all(page.data.map((row) => presentCardholder(context.vault, row))),
      };
    },
  );

  app.get(
    '/v1/cardholders/:id',
    {
      config: { auth: 'any', scope: 'cardholders:read' },
      schema: {
        summary: 'Retrieve a cardholder',
        tags: ['cardholders'],
        params: CardholderParams,
        response: { 200: Type.Ref('Cardholder'), ...errorResponses },
      },
    },
    async (request) => getCardholder(context.db, context.vault, request.params.id, programScopeOf(request)),
  );

  app.patch(
    '/v1/cardholders/:id',
    {
      // The operator's support staff help cardholders (roles.ts gives them cardholders:write).
      config: { auth: 'any', scope: 'cardholders:write' },
      schema: {
        summary: 'Update a cardholder’s personal data, spending controls, metadata or status',
        tags: ['cardholders'],
        params: CardholderParams,
        body: UpdateCardholderBody,
        response: { 200: Type.Ref('Cardholder'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const programScope = programScopeOf(request);
      await warmScreening(context.db);
      const answer = await withFreshKeys(context.vault, () =>
        reply.mutate(200, async (tx) =>
          sealAnswer(
            context.vault,
            await updateCardholder(
              tx,
              context,
              request.params.id,
              programScope,
              request.body,
              actorOf(request),
            ),
          ),
        ),
      );
      return openAnswer(context, answer, programScope);
    },
  );
}
