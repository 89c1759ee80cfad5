import {
  addNote,
  assertPerson,
  checkDecision,
  decideCase,
  findCase,
  lockOpenCase,
  recordPausedCards,
  type CaseDecisionInput,
  type CaseRow,
} from '../compliance/aml/cases.js';
import { buildStrPackage, type StrTransaction, type StrTransactionKind } from '../compliance/aml/report.js';
import type { Transaction } from '../platform/db/database.js';
import { isCountryCode } from '../platform/countries.js';
import { invalidRequest } from '../platform/errors.js';
import { CARDHOLDER_COLUMNS, cardholderFromRowLoaded, type CardholderRow } from './cardholders.js';
import { CARD_COLUMNS, moveCardsForCompliance, type CardRow } from './cards.js';
import { getOperatorUser } from './operator-users.js';
import { getProgram, type Actor, type IssuingContext } from './programs.js';
import { WALLET_SELECT, walletFromRow, type WalletRow } from './wallets.js';

/**
 * Case actions that reach beyond compliance's own tables: pausing the cardholder's cards from a case, resuming
 * them when the case is a false positive, and the report package, which carries the cardholder's particulars,
 * accounts and cards. Compliance keeps the case; issuing supplies the cardholder.
 */

export { addNote };

/** The programme metadata key holding the issuer's SVF licence number (Cap. 584), which a report names. */
export const LICENCE_METADATA_KEY = 'svf_licence_number';
const PLATFORM = { name: 'Lantau', version: '0.1.0' } as const;

async function lockCardholder(tx: Transaction, id: string): Promise<CardholderRow> {
  const found = await tx.query<CardholderRow>(
    `SELECT ${CARDHOLDER_COLUMNS} FROM cardholders WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = found.rows[0];
  if (row === undefined) throw new Error('a case names a cardholder that does not exist');
  return row;
}

/** Pauses every active card of the case's cardholder, for compliance (which a programme cannot lift). */
export async function pauseCaseCards(
  tx: Transaction,
  context: IssuingContext,
  caseId: string,
  by: Actor,
): Promise<CaseRow> {
  const row = await lockOpenCase(tx, caseId, by);
  await lockCardholder(tx, row.cardholder_id);
  // Every card not closed, paused by the programme too (else it could lift its own pause); one already paused for
  // compliance (screening) stays with what paused it, and the case's hold keeps it paused (screening-alerts.ts).
  const paused = await moveCardsForCompliance(
    tx,
    context,
    row.program_id,
    'paused',
    `cardholder_id = $3 AND status <> 'closed' AND status_reason IS DISTINCT FROM 'compliance'`,
    [row.cardholder_id],
  );
  return recordPausedCards(
    tx,
    context,
    caseId,
    paused.map((card) => card.id),
    by,
  );
}

/**
 * When a case that paused cards is decided a false positive, the cardholder's cards paused for compliance resume
 * (those screening paused too: a screening alert cleared meanwhile left them to the case), unless sanctions
 * screening still holds the cardholder (its own alert resumes them when cleared).
 */
async function resumeCaseCards(tx: Transaction, context: IssuingContext, row: CaseRow): Promise<void> {
  await moveCardsForCompliance(
    tx,
    context,
    row.program_id,
    'active',
    `cardholder_id = $4 AND status = 'paused' AND status_reason = 'compliance'
       AND cardinality($3::text[]) > 0
       AND NOT EXISTS (SELECT 1 FROM cardholders h WHERE h.id = $4
                       AND h.screening_status IN ('potential_match', 'confirmed_match'))`,
    [row.paused_card_ids, row.cardholder_id],
  );
}

interface CaseActivityRow {
  kind: string;
  id: string;
  at: Date;
  amount: number;
  currency: string;
  card_id: string | null;
  wallet_id: string | null;
  approved: boolean | null;
  merchant_country: string | null;
  merchant_name: string | null;
  merchant_mcc: string | null;
}

const MONEY_KINDS: readonly StrTransactionKind[] = [
  'load',
  'unload',
  'authorization',
  'capture',
  'force_post',
  'refund',
];

/**
 * Text from the network or the programme made fit for the report: control characters and lone surrogates (which
 * an API accepted, and XML cannot carry) become spaces, rather than making the case impossible to report.
 */
function printable(text: string): string {
  // Control characters are what is matched here, on purpose.
  return (
    // eslint-disable-next-line no-control-regex
    text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffe\uffff]|\p{Cs}/gu, ' ').trim() || '?'
  );
}

const printableOrNull = (text: string | null): string | null => (text === null ? null : printable(text));

/** A country the report's schema knows, or none: an acquirer's `ZZ` is not a reason to refuse a report. */
function knownCountry(code: string | null): string | null {
  return code !== null && isCountryCode(code) ? code : null;
}

/** Builds the case's report package: the subject, their accounts and cards, the alerts and what they listed. */
async function reportPackage(
  tx: Transaction,
  context: IssuingContext,
  row: CaseRow,
  grounds: string,
  by: Actor,
): Promise<{ json: unknown; xml: string }> {
  const holder = cardholderFromRowLoaded(context.vault, await lockCardholder(tx, row.cardholder_id));
  const program = await getProgram(tx, row.program_id);
  const licence = program.metadata[LICENCE_METADATA_KEY];
  if (licence === undefined || licence === '') {
    throw invalidRequest(
      'licence_number_unset',
      `A report names the issuer's licence: set the programme's metadata ${LICENCE_METADATA_KEY} first`,
      'decision',
    );
  }
  const analyst = await getOperatorUser(tx, by.actor.id);
  const wallets = await tx.query<WalletRow>(`${WALLET_SELECT} WHERE w.cardholder_id = $1 ORDER BY w.id`, [
    row.cardholder_id,
  ]);
  const cards = await tx.query<CardRow>(
    `SELECT ${CARD_COLUMNS} FROM cards WHERE cardholder_id = $1 ORDER BY id`,
    [row.cardholder_id],
  );
  const alerts = await tx.query<{
    id: string;
    scenario: string;
    reason: string;
    summary: string;
    window_from: Date;
    window_to: Date;
    activity_ids: string[];
  }>(
    `SELECT id, scenario, reason, summary, window_from, window_to, activity_ids FROM aml_alerts
     WHERE case_id = $1 ORDER BY id`,
    [row.id],
  );
  const listed = [...new Set(alerts.rows.flatMap((alert) => alert.activity_ids))];
  const activity = await tx.query<CaseActivityRow>(
    `SELECT kind, id, at, amount, currency, card_id, wallet_id, approved, merchant_country, merchant_name,
       merchant_mcc
     FROM aml_activity WHERE id = ANY($1::text[]) AND kind = ANY($2::text[]) AND cardholder_id = $3
     ORDER BY at, id`,
    // The subject's own: a shared-device alert also lists the other cardholders' activity on the device.
    [listed, [...MONEY_KINDS], row.cardholder_id],
  );
  const cardIds = new Set(cards.rows.map((card) => card.id));
  const walletIds = new Set(wallets.rows.map((wallet) => wallet.id));
  const transactions: StrTransaction[] = activity.rows.map((item) => ({
    id: item.id,
    kind: item.kind as StrTransactionKind,
    at: item.at,
    amount: item.amount,
    currency: item.currency,
    approved: item.kind === 'authorization' ? item.approved : null,
    cardId: item.card_id !== null && cardIds.has(item.card_id) ? item.card_id : null,
    accountId: item.wallet_id !== null && walletIds.has(item.wallet_id) ? item.wallet_id : null,
    merchant:
      item.merchant_name === null && item.merchant_country === null
        ? null
        : {
            name: item.merchant_name === null ? null : printable(item.merchant_name),
            country: knownCountry(item.merchant_country),
            mcc: item.merchant_mcc,
          },
  }));
  if (transactions.length === 0) {
    throw invalidRequest(
      'report_without_transactions',
      'The case’s alerts list no money movements: a suspicious-transaction report reports transactions',
      'decision',
    );
  }
  const built = buildStrPackage({
    reportId: context.ids('str'),
    caseId: row.id,
    decidedAt: context.clock.now(),
    institution: {
      programId: program.id,
      programName: program.name,
      licenceNumber: licence,
      platform: PLATFORM,
    },
    subject: {
      id: holder.id,
      name: printable(holder.name),
      dateOfBirth: holder.date_of_birth,
      nationality: knownCountry(holder.nationality),
      address:
        holder.address === null
          ? null
          : {
              line1: printable(holder.address.line1),
              line2: printableOrNull(holder.address.line2),
              city: printable(holder.address.city),
              state: printableOrNull(holder.address.state),
              postalCode: printableOrNull(holder.address.postal_code),
              // Checked against ISO 3166 when the cardholder was written.
              country: holder.address.country,
            },
      email: holder.email,
      phoneNumber: holder.phone_number,
      kycStatus: holder.kyc_status,
    },
    accounts: wallets.rows.map((wallet) => {
      const shown = walletFromRow(wallet);
      return { id: shown.id, currency: shown.currency, balance: shown.balance.posted, status: shown.status };
    }),
    cards: cards.rows.map((card) => ({ id: card.id, last4: card.last4, status: card.status })),
    transactions,
    alerts: alerts.rows.map((alert) => ({
      id: alert.id,
      scenario: alert.scenario,
      reason: alert.reason,
      summary: alert.summary,
      window: { from: alert.window_from, to: alert.window_to },
      activityIds: alert.activity_ids,
    })),
    grounds,
    analyst: { userId: analyst.id, name: analyst.name, email: analyst.email },
    actionTaken:
      row.paused_card_ids.length > 0
        ? `${String(row.paused_card_ids.length)} card(s) paused pending review`
        : null,
  });
  return { json: built.json, xml: built.xml };
}

/** A person's decision on a case; `reported` builds and keeps the report package in the same transaction. */
export async function decideAmlCase(
  tx: Transaction,
  context: IssuingContext,
  caseId: string,
  input: Omit<CaseDecisionInput, 'report'>,
  by: Actor,
): Promise<CaseRow> {
  assertPerson(by);
  const locked = await findCase(tx, caseId, 'FOR UPDATE');
  const grounds = checkDecision(locked, input);
  const report =
    input.decision === 'reported' ? await reportPackage(tx, context, locked, grounds, by) : undefined;
  const decided = await decideCase(
    tx,
    context,
    caseId,
    { ...input, ...(report === undefined ? {} : { report }) },
    by,
  );
  if (input.decision === 'false_positive') await resumeCaseCards(tx, context, decided);
  return decided;
}
