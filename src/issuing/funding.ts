import type { Queryable, Transaction } from '../platform/db/database.js';
import { invalidRequest } from '../platform/errors.js';
import { isPositiveAmount } from '../platform/money.js';
import { flattenResults, getAccounts, submitTransfers } from '../ledger/index.js';
import { appendAudit } from '../records/audit.js';
import { emitEvent } from '../records/outbox.js';
import { getProgram, programAccountId, type Actor, type IssuingContext } from './programs.js';

export interface ProgramFunding {
  readonly id: string;
  readonly object: 'program_funding';
  readonly program_id: string;
  readonly amount: number;
  readonly currency: string;
  readonly reference: string | null;
  readonly created: string;
}

export interface ProgramBalance {
  readonly object: 'program_balance';
  readonly currency: string;
  /** Deposited and not yet loaded into wallets: what loads can still draw on. */
  readonly available: number;
}

/**
 * A deposit by the programme into its funding account (the platform operator records it when the money reached the
 * issuer's bank). Loads into wallets draw on it and cannot exceed it: a key that can load wallets cannot create
 * money the programme never paid in.
 */
export async function fundProgram(
  tx: Transaction,
  context: IssuingContext,
  programId: string,
  input: { readonly amount: number; readonly currency: string; readonly reference?: string },
  by: Actor,
): Promise<ProgramFunding> {
  const program = await getProgram(tx, programId);
  if (!isPositiveAmount(input.amount)) {
    throw invalidRequest('amount_invalid', 'A funding is a positive whole number of minor units', 'amount');
  }
  if (!program.currencies.includes(input.currency)) {
    throw invalidRequest('currency_unsupported', `The programme does not hold ${input.currency}`, 'currency');
  }
  const id = context.ids('fund');
  const [result] = flattenResults(
    await submitTransfers(tx, context.clock, [
      {
        id,
        kind: 'posted',
        debitAccountId: programAccountId(programId, 'program_bank', input.currency),
        creditAccountId: programAccountId(programId, 'funding', input.currency),
        amount: input.amount,
        currency: input.currency,
        code: 'program_funding',
        reference: input.reference ?? null,
      },
    ]),
  );
  if (result?.status !== 'created') {
    if (result?.status === 'failed' && result.error === 'overflows_balance') {
      throw invalidRequest(
        'amount_too_large',
        'The amount would take a balance beyond what can be recorded',
        'amount',
      );
    }
    throw new Error(
      `the ledger refused a funding: ${result?.status === 'failed' ? result.error : 'no result'}`,
    );
  }
  const funding: ProgramFunding = {
    id,
    object: 'program_funding',
    program_id: programId,
    amount: input.amount,
    currency: input.currency,
    reference: input.reference ?? null,
    created: result.transfer.createdAt.toISOString(),
  };
  await emitEvent(tx, context, { type: 'program.funded', programId, object: funding });
  await appendAudit(tx, context, {
    ...by,
    action: 'program.funded',
    programId,
    target: { type: 'ledger_transfer', id },
    details: { amount: input.amount, currency: input.currency },
  });
  return funding;
}

/** What each of the programme's currencies still has to load into wallets. */
export async function programBalances(db: Queryable, programId: string): Promise<ProgramBalance[]> {
  const program = await getProgram(db, programId);
  const accounts = await getAccounts(
    db,
    program.currencies.map((currency) => programAccountId(programId, 'funding', currency)),
  );
  return program.currencies.map((currency) => {
    const account = accounts.get(programAccountId(programId, 'funding', currency));
    const available =
      account === undefined ? 0 : account.creditsPosted - account.debitsPosted - account.debitsPending;
    return { object: 'program_balance', currency, available };
  });
}
