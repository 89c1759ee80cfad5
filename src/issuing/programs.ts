import type { Clock } from '../platform/clock.js';
import type { Database, Queryable, Transaction } from '../platform/db/database.js';
import { json } from '../platform/db/database.js';
import { invalidRequest, notFound } from '../platform/errors.js';
import type { IdGenerator } from '../platform/ids.js';
import { isCurrencyCode } from '../platform/money.js';
import { createAccounts } from '../ledger/index.js';
import { appendAudit, type AuditActor } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import { createCvkPair } from '../vault/cvk-pairs.js';
import type { CvkPair } from '../vault/cvv.js';
import type { Keyring } from '../vault/keyring.js';

export type ProgramMode = 'sandbox' | 'live';
export type ProgramStatus = 'active' | 'suspended';

/** A programme as the API shows it (DESIGN.md's snake_case resource shape; events carry the same object). */
export interface Program {
  readonly id: string;
  readonly object: 'program';
  readonly name: string;
  readonly bin: string;
  readonly pan_length: number;
  readonly currencies: readonly string[];
  readonly default_currency: string;
  readonly region: string;
  readonly card_validity_months: number;
  readonly mode: ProgramMode;
  readonly time_zone: string;
  readonly status: ProgramStatus;
  /** Added to every currency conversion, in basis points (DESIGN.md's FX rule). */
  readonly fx_markup_bps: number;
  /** How long an authorization's hold lasts, and the longer hold for lodging and car rental. */
  readonly hold_days: number;
  readonly extended_hold_days: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly created: string;
  readonly updated: string;
}

export interface NewProgram {
  readonly name: string;
  readonly bin: string;
  readonly pan_length?: number;
  readonly currencies: readonly string[];
  readonly region: string;
  readonly card_validity_months?: number;
  readonly mode: ProgramMode;
  readonly time_zone?: string;
  readonly fx_markup_bps?: number;
  readonly hold_days?: number;
  readonly extended_hold_days?: number;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface ProgramChanges {
  readonly name?: string;
  readonly currencies?: readonly string[];
  readonly card_validity_months?: number;
  readonly time_zone?: string;
  readonly status?: ProgramStatus;
  readonly fx_markup_bps?: number;
  readonly hold_days?: number;
  readonly extended_hold_days?: number;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface IssuingContext {
  readonly db: Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly vault: Keyring;
  /** The regions this deployment keeps data in (LANTAU_REGIONS): a programme may only declare one of them. */
  readonly regions: readonly string[];
}

/** Who did it and under which request, for the audit log. */
export interface Actor {
  readonly actor: AuditActor;
  readonly requestId?: string;
}

export const DEFAULT_TIME_ZONE = 'Asia/Hong_Kong';
export const DEFAULT_CARD_VALIDITY_MONTHS = 36;
export const DEFAULT_PAN_LENGTH = 16;

/** The ledger accounts every programme holds in each of its currencies (DESIGN.md, "The card lifecycle"). */
export const PROGRAM_ACCOUNT_KINDS = [
  'funding',
  'card_settlement',
  'cardholder_receivable',
  'program_bank',
] as const;
export type ProgramAccountKind = (typeof PROGRAM_ACCOUNT_KINDS)[number];

export function programAccountId(programId: string, kind: ProgramAccountKind, currency: string): string {
  return `${programId}:${kind}:${currency}`;
}

interface ProgramRow {
  id: string;
  name: string;
  bin: string;
  pan_length: number;
  currencies: string[];
  region: string;
  card_validity_months: number;
  mode: ProgramMode;
  time_zone: string;
  status: ProgramStatus;
  fx_markup_bps: number;
  hold_days: number;
  extended_hold_days: number;
  metadata: Record<string, string>;
  created_at: Date;
  updated_at: Date;
}

export const PROGRAM_COLUMNS =
  'id, name, bin, pan_length, currencies, region, card_validity_months, mode, time_zone, status, fx_markup_bps, hold_days, extended_hold_days, metadata, created_at, updated_at';

export function programFromRow(row: ProgramRow): Program {
  return {
    id: row.id,
    object: 'program',
    name: row.name,
    bin: row.bin,
    pan_length: row.pan_length,
    currencies: row.currencies,
    default_currency: row.currencies[0] ?? '',
    region: row.region,
    card_validity_months: row.card_validity_months,
    mode: row.mode,
    time_zone: row.time_zone,
    status: row.status,
    fx_markup_bps: row.fx_markup_bps,
    hold_days: row.hold_days,
    extended_hold_days: row.extended_hold_days,
    metadata: row.metadata,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  };
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function checkCurrencies(currencies: readonly string[]): void {
  currencies.forEach((currency, index) => {
    if (!isCurrencyCode(currency)) {
      throw invalidRequest(
        'currency_invalid',
        `${currency} is not an ISO 4217 currency code`,
        `currencies[${index}]`,
      );
    }
  });
  if (new Set(currencies).size !== currencies.length) {
    throw invalidRequest('currencies_repeated', 'Each currency may appear once', 'currencies');
  }
}

function checkNewProgram(input: NewProgram, regions: readonly string[]): void {
  if (!/^\d{6}(\d{2})?$/.test(input.bin)) {
    throw invalidRequest('bin_invalid', 'A BIN is 6 or 8 digits', 'bin');
  }
  const panLength = input.pan_length ?? DEFAULT_PAN_LENGTH;
  if (panLength < input.bin.length + 4) {
    throw invalidRequest(
      'pan_length_invalid',
      `A ${panLength}-digit PAN leaves too few digits after a ${input.bin.length}-digit BIN for unique cards`,
      'pan_length',
    );
  }
  checkCurrencies(input.currencies);
  if (!regions.includes(input.region)) {
    throw invalidRequest(
      'region_unavailable',
      `This deployment keeps data in ${regions.join(', ')}; a programme declaring ${input.region} must run in a deployment there`,
      'region',
    );
  }
  if (input.time_zone !== undefined && !isTimeZone(input.time_zone)) {
    throw invalidRequest(
      'time_zone_invalid',
      'The time zone must be an IANA name such as Asia/Hong_Kong',
      'time_zone',
    );
  }
}

async function openProgramAccounts(
  tx: Transaction,
  context: Pick<IssuingContext, 'clock' | 'ids'>,
  programId: string,
  currencies: readonly string[],
): Promise<void> {
  await createAccounts(
    tx,
    context,
    currencies.flatMap((currency) =>
      PROGRAM_ACCOUNT_KINDS.map((kind) => ({
        id: programAccountId(programId, kind, currency),
        programId,
        currency,
        kind,
        ownerId: programId,
        // Receivables are what cardholders owe after a clearing beyond their balance: never negative. The funding
        // account pays out only what the programme deposited from its bank account (`fundProgram`).
        flags:
          kind === 'cardholder_receivable'
            ? { creditsMustNotExceedDebits: true }
            : kind === 'funding'
              ? { debitsMustNotExceedCredits: true }
              : {},
      })),
    ),
  );
}

/**
 * Creates a programme with everything it needs to issue: its CVK pair (given, or new and random) and its ledger
 * accounts in each currency, with its event and audit entry, in the caller's transaction.
 */
export async function createProgram(
  tx: Transaction,
  context: IssuingContext,
  input: NewProgram,
  by: Actor,
  options: { readonly cvk?: CvkPair; readonly seededSandbox?: boolean } = {},
): Promise<Program> {
  checkNewProgram(input, context.regions);
  const now = context.clock.now();
  const id = context.ids('prog');
  const inserted = await tx.query<ProgramRow>(
    `INSERT INTO programs (id, name, bin, pan_length, currencies, region, card_validity_months, mode, time_zone,
       status, metadata, seeded_sandbox, created_at, updated_at, fx_markup_bps, hold_days, extended_hold_days)
     VALUES ($1, $2, $3, $4, $5::text[], $6, $7, $8, $9, 'active', $10::jsonb, $11, $12, $12, $13, $14, $15)
     RETURNING ${PROGRAM_COLUMNS}`,
    [
      id,
      input.name,
      input.bin,
      input.pan_length ?? DEFAULT_PAN_LENGTH,
      [...input.currencies],
      input.region,
      input.card_validity_months ?? DEFAULT_CARD_VALIDITY_MONTHS,
      input.mode,
      input.time_zone ?? DEFAULT_TIME_ZONE,
      json(input.metadata ?? {}),
      options.seededSandbox ?? false,
      now,
      input.fx_markup_bps ?? 0,
      input.hold_days ?? 7,
      input.extended_hold_days ?? 31,
    ],
  );
  const row = inserted.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  const program = programFromRow(row);
  const cvk = await createCvkPair(tx, context.vault, id, context.ids, context.clock, options.cvk);
  await openProgramAccounts(tx, context, id, program.currencies);
  await emitEvent(tx, context, { type: 'program.created', programId: id, object: program });
  await appendAudit(tx, context, {
    ...by,
    action: 'program.created',
    programId: id,
    target: { type: 'program', id },
    details: { mode: program.mode, region: program.region, bin: program.bin },
  });
  await appendAudit(tx, context, {
    ...by,
    action: 'cvk_pair.created',
    programId: id,
    target: { type: 'cvk_pair', id: cvk.id },
    details: { check_value: cvk.checkValue, supplied: options.cvk !== undefined },
  });
  return program;
}

export async function findProgram(db: Queryable, id: string): Promise<Program | undefined> {
  const found = await db.query<ProgramRow>(`SELECT ${PROGRAM_COLUMNS} FROM programs WHERE id = $1`, [id]);
  const row = found.rows[0];
  return row === undefined ? undefined : programFromRow(row);
}

export async function getProgram(db: Queryable, id: string): Promise<Program> {
  const program = await findProgram(db, id);
  if (program === undefined) throw notFound('program', id);
  return program;
}

/**
 * Changes what may change after cards exist: not the BIN, PAN length, mode or region (cards, keys and data depend
 * on them). Currencies may be added, never removed, and the first stays the default.
 */
export async function updateProgram(
  tx: Transaction,
  context: IssuingContext,
  id: string,
  changes: ProgramChanges,
  by: Actor,
): Promise<Program> {
  const locked = await tx.query<ProgramRow>(
    `SELECT ${PROGRAM_COLUMNS} FROM programs WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = locked.rows[0];
  if (row === undefined) throw notFound('program', id);
  const current = programFromRow(row);
  let added: string[] = [];
  if (changes.currencies !== undefined) {
    checkCurrencies(changes.currencies);
    const removed = current.currencies.filter((currency) => !changes.currencies?.includes(currency));
    if (removed.length > 0) {
      throw invalidRequest(
        'currency_removal_refused',
        `Currencies cannot be removed once a programme has them (missing: ${removed.join(', ')})`,
        'currencies',
      );
    }
    if (changes.currencies[0] !== current.currencies[0]) {
      throw invalidRequest(
        'default_currency_fixed',
        'The first (default) currency cannot change',
        'currencies',
      );
    }
    added = changes.currencies.filter((currency) => !current.currencies.includes(currency));
  }
  if (changes.time_zone !== undefined && !isTimeZone(changes.time_zone)) {
    throw invalidRequest(
      'time_zone_invalid',
      'The time zone must be an IANA name such as Asia/Hong_Kong',
      'time_zone',
    );
  }
  const updated = await tx.query<ProgramRow>(
    `UPDATE programs SET name = $2, currencies = $3::text[], card_validity_months = $4, time_zone = $5, status = $6,
       metadata = $7::jsonb, updated_at = $8, fx_markup_bps = $9, hold_days = $10, extended_hold_days = $11
     WHERE id = $1
     RETURNING ${PROGRAM_COLUMNS}`,
    [
      id,
      changes.name ?? current.name,
      [...(changes.currencies ?? current.currencies)],
      changes.card_validity_months ?? current.card_validity_months,
      changes.time_zone ?? current.time_zone,
      changes.status ?? current.status,
      json(changes.metadata ?? current.metadata),
      context.clock.now(),
      changes.fx_markup_bps ?? current.fx_markup_bps,
      changes.hold_days ?? current.hold_days,
      changes.extended_hold_days ?? current.extended_hold_days,
    ],
  );
  const next = updated.rows[0];
  if (next === undefined) throw new Error('UPDATE … RETURNING returned no row');
  const program = programFromRow(next);
  if (added.length > 0) await openProgramAccounts(tx, context, id, added);
  await emitEvent(tx, context, { type: 'program.updated', programId: id, object: program });
  await appendAudit(tx, context, {
    ...by,
    action: 'program.updated',
    programId: id,
    target: { type: 'program', id },
    details: { fields: Object.keys(changes).sort().join(','), status: program.status },
  });
  return program;
}

/** The seeded sandbox programme, if `lantau serve` made one. */
export async function findSeededSandbox(db: Queryable): Promise<Program | undefined> {
  const found = await db.query<ProgramRow>(`SELECT ${PROGRAM_COLUMNS} FROM programs WHERE seeded_sandbox`);
  const row = found.rows[0];
  return row === undefined ? undefined : programFromRow(row);
}

/** A programme key sees its own programme only; anything else is answered as if it did not exist. */
export function assertSameProgram(principalProgramId: string | undefined, programId: string): void {
  if (principalProgramId !== undefined && principalProgramId !== programId)
    throw notFound('program', programId);
}
