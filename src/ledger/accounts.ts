import type { Queryable, Transaction } from '../platform/db/database.js';
import type { IdGenerator } from '../platform/ids.js';
import type { Clock } from '../platform/clock.js';
import { isCurrencyCode } from '../platform/money.js';
import { LedgerError } from './errors.js';
import { ACCOUNT_COLUMNS, accountFromRow, type AccountRow } from './rows.js';
import type { Account, NewAccount } from './types.js';

const ACCOUNT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const PROGRAM_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const KIND = /^[a-z][a-z0-9_]{0,63}$/;
/** A bound on one call, like every batch in the ledger. */
export const ACCOUNTS_PER_CALL_MAX = 8_190;

interface ValidAccount {
  readonly id: string;
  readonly programId: string;
  readonly currency: string;
  readonly kind: string;
  readonly ownerId: string | null;
  readonly debitsMustNotExceedCredits: boolean;
  readonly creditsMustNotExceedDebits: boolean;
}

function validate(input: NewAccount, ids: IdGenerator): ValidAccount {
  const id = input.id ?? ids('lacc');
  if (typeof id !== 'string' || !ACCOUNT_ID.test(id)) {
    throw new LedgerError(
      'account_id_invalid',
      'An account id is 1 to 128 characters: letters, digits, _ . : -',
    );
  }
  if (typeof input.programId !== 'string' || !PROGRAM_ID.test(input.programId)) {
    throw new LedgerError('program_id_invalid', 'An account belongs to a programme: give its id');
  }
  if (typeof input.currency !== 'string' || !isCurrencyCode(input.currency)) {
    throw new LedgerError('currency_invalid', 'The currency must be an ISO 4217 code such as HKD');
  }
  if (typeof input.kind !== 'string' || !KIND.test(input.kind)) {
    throw new LedgerError(
      'kind_invalid',
      'An account kind is snake_case, at most 64 characters (e.g. wallet)',
    );
  }
  const ownerId = input.ownerId ?? null;
  if (ownerId !== null && (typeof ownerId !== 'string' || !ACCOUNT_ID.test(ownerId))) {
    throw new LedgerError('owner_id_invalid', 'An owner id is 1 to 128 characters: letters, digits, _ . : -');
  }
  const debitsMustNotExceedCredits = input.flags?.debitsMustNotExceedCredits ?? false;
  const creditsMustNotExceedDebits = input.flags?.creditsMustNotExceedDebits ?? false;
  if (debitsMustNotExceedCredits && creditsMustNotExceedDebits) {
    throw new LedgerError(
      'flags_exclusive',
      'An account cannot have both debits_must_not_exceed_credits and credits_must_not_exceed_debits',
    );
  }
  return {
    id,
    programId: input.programId,
    currency: input.currency,
    kind: input.kind,
    ownerId,
    debitsMustNotExceedCredits,
    creditsMustNotExceedDebits,
  };
}

function sameAccount(account: Account, wanted: ValidAccount): boolean {
  return (
    account.programId === wanted.programId &&
    account.currency === wanted.currency &&
    account.kind === wanted.kind &&
    account.ownerId === wanted.ownerId &&
    account.flags.debitsMustNotExceedCredits === wanted.debitsMustNotExceedCredits &&
    account.flags.creditsMustNotExceedDebits === wanted.creditsMustNotExceedDebits
  );
}

/**
 * Creates accounts in the caller's transaction, in one statement. Creating an account that exists with the same
 * fields returns it unchanged (so a retried setup is harmless); with other fields it is refused.
 */
export async function createAccounts(
  tx: Transaction,
  context: { readonly clock: Clock; readonly ids: IdGenerator },
  inputs: readonly NewAccount[],
): Promise<Account[]> {
  if (inputs.length > ACCOUNTS_PER_CALL_MAX) {
    throw new RangeError(`at most ${ACCOUNTS_PER_CALL_MAX} accounts per call (got ${inputs.length})`);
  }
  if (inputs.length === 0) return [];
  const wanted = inputs.map((input) => validate(input, context.ids));
  const now = context.clock.now();
  await tx.query(
    `INSERT INTO ledger_accounts (id, program_id, currency, kind, owner_id, debits_must_not_exceed_credits,
       credits_must_not_exceed_debits, created_at)
     SELECT id, program_id, currency, kind, owner_id, dmnec, cmned, $8::timestamptz
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::boolean[])
       AS a(id, program_id, currency, kind, owner_id, dmnec, cmned)
     ORDER BY id
     ON CONFLICT (id) DO NOTHING`,
    [
      wanted.map((account) => account.id),
      wanted.map((account) => account.programId),
      wanted.map((account) => account.currency),
      wanted.map((account) => account.kind),
      wanted.map((account) => account.ownerId),
      wanted.map((account) => account.debitsMustNotExceedCredits),
      wanted.map((account) => account.creditsMustNotExceedDebits),
      now,
    ],
  );
  const stored = await getAccounts(
    tx,
    wanted.map((account) => account.id),
  );
  return wanted.map((account) => {
    const found = stored.get(account.id);
    if (found === undefined) throw new Error(`account ${account.id} was not stored`);
    if (!sameAccount(found, account)) {
      throw new LedgerError(
        'account_exists_with_different_fields',
        `Account ${account.id} already exists with other fields`,
      );
    }
    return found;
  });
}

export async function getAccounts(db: Queryable, ids: readonly string[]): Promise<Map<string, Account>> {
  if (ids.length === 0) return new Map();
  const result = await db.query<AccountRow>(
    `SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = ANY($1::text[])`,
    [[...ids]],
  );
  return new Map(result.rows.map((row) => [row.id, accountFromRow(row)]));
}

export async function getAccount(db: Queryable, id: string): Promise<Account | undefined> {
  return (await getAccounts(db, [id])).get(id);
}
