import {
  CASE_SEALED_COLUMNS,
  assertPerson,
  checkDecision,
  decideCase,
  findCase,
  lockOpenCase,
  recordPausedCards,
  type CaseContext,
  type CaseDecisionInput,
  type CaseRow,
  type CaseSealer,
  type SealedColumn,
} from '../compliance/aml/cases.js';
import {
  buildStrPackage,
  type StrInput,
  type StrInstitution,
  type StrPackage,
  type StrTransaction,
  type StrTransactionKind,
} from '../compliance/aml/report.js';
import { VERIFICATION_COLUMNS, type VerificationRow } from '../compliance/kyc/verifications.js';
import type { Transaction } from '../platform/db/database.js';
import { isCountryCode } from '../platform/countries.js';
import { LantauError, invalidRequest } from '../platform/errors.js';
import { CARDHOLDER_COLUMNS, cardholderFromRowLoaded, type CardholderRow } from './cardholders.js';
import { CARD_COLUMNS, moveCardsForCompliance, type CardRow } from './cards.js';
import { getOperatorUser } from './operator-users.js';
import { getProgram, type Actor, type IssuingContext } from './programs.js';
import { WALLET_SELECT, walletFromRow, type WalletRow } from './wallets.js';
import { bindToRow, type EncryptedColumn } from '../vault/encrypted-columns.js';
import type { Keyring } from '../vault/keyring.js';

/**
 * Case actions that reach beyond compliance's own tables: pausing the cardholder's cards from a case, resuming
 * them when the case is a false positive, and the report package, which carries the cardholder's particulars,
 * accounts and cards. Compliance keeps the case; issuing supplies the cardholder.
 */

/** A case's sealed text is bound to its table, column and row, as every ciphertext the vault writes for a row. */
const aadOf = (where: SealedColumn): ((id: string) => string) => bindToRow(where.table, where.column);

/**
 * What analysts write speaks of a cardholder, so it is sealed under the key of cardholders' personal data, `pii`.
 * The bytes (plaintext, key, associated data) are those compliance wrote when it called the vault itself, so cases
 * sealed before still open and rotation finds them in the same columns.
 */
export function caseSealer(vault: Keyring): CaseSealer {
  return {
    seal: (where, rowId, plaintext) =>
      vault.encrypt('pii', Buffer.from(plaintext, 'utf8'), aadOf(where)(rowId)),
    open: async (where, rowId, sealed) => (await vault.decrypt(sealed, aadOf(where)(rowId))).toString('utf8'),
  };
}

/** The context compliance's case actions take, from issuing's. */
export function caseContext(context: IssuingContext): CaseContext {
  return { clock: context.clock, ids: context.ids, sealer: caseSealer(context.vault) };
}

/** Registered with the vault (edges/cli/vault.ts) so key rotation re-encrypts them and retirement checks them. */
export const CASE_ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = CASE_SEALED_COLUMNS.map((where) => ({
  table: where.table,
  idColumn: 'id',
  column: where.column,
  purpose: 'pii',
  aad: aadOf(where),
}));

/** The programme metadata key holding the issuer's SVF licence number (Cap. 584), which a report names. */
export const LICENCE_METADATA_KEY = 'svf_licence_number';
/**
 * The programme metadata keys holding the licensed institution's particulars, which a report carries when they are
 * set; a report without them says null (JSON) or leaves the element out (XML) rather than guess.
 */
export const INSTITUTION_METADATA_KEYS = {
  name: 'institution_name',
  address: 'institution_address',
  contactName: 'institution_contact_name',
  contactPhone: 'institution_contact_phone',
  contactEmail: 'institution_contact_email',
} as const satisfies Readonly<Partial<Record<keyof StrInstitution, string>>>;
type InstitutionField = keyof typeof INSTITUTION_METADATA_KEYS;
/** Verifications a report lists at most: the latest, should a cardholder ever have had more. */
const REPORT_VERIFICATIONS_MAX = 100;
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
  'load_declined',
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

/** The institution's particulars from the programme's metadata: a key unset or blank is null. */
function institutionParticulars(
  metadata: Readonly<Record<string, string>>,
): Pick<StrInstitution, InstitutionField> {
  const given = (field: InstitutionField): string | null => {
    const value = metadata[INSTITUTION_METADATA_KEYS[field]]?.trim() ?? '';
    return value === '' ? null : value;
  };
  const phone = given('contactPhone');
  return {
    name: printableOrNull(given('name')),
    address: printableOrNull(given('address')),
    contactName: printableOrNull(given('contactName')),
    // Written as people write numbers (+852 2123-4567); the report carries E.164.
    contactPhone: phone === null ? null : phone.replace(/[\s().-]/g, ''),
    contactEmail: given('contactEmail'),
  };
}

/**
 * Builds the package. One refused for an institution's particular is refused for the programme's metadata, which
 * is what the operator corrects: the error names the key rather than the report's field.
 */
function buildReport(input: StrInput): StrPackage {
  try {
    return buildStrPackage(input);
  } catch (error) {
    if (!(error instanceof LantauError)) throw error;
    for (const [field, key] of Object.entries(INSTITUTION_METADATA_KEYS)) {
      const param = `institution.${field}`;
      if (error.param !== param) continue;
      const rule = error.message.startsWith(`${param} `)
        ? error.message.slice(param.length + 1)
        : 'cannot go in a report as it is';
      throw invalidRequest(
        'institution_metadata_invalid',
        `A report names the institution: the programme's metadata ${key} ${rule}`,
        'decision',
      );
    }
    throw error;
  }
}

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
  const verifications = await tx.query<VerificationRow>(
    `SELECT ${VERIFICATION_COLUMNS} FROM kyc_verifications WHERE cardholder_id = $1
     ORDER BY created_at DESC, id DESC LIMIT $2`,
    [row.cardholder_id, REPORT_VERIFICATIONS_MAX],
  );
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
  const built = buildReport({
    reportId: context.ids('str'),
    caseId: row.id,
    decidedAt: context.clock.now(),
    institution: {
      programId: program.id,
      programName: program.name,
      licenceNumber: licence,
      ...institutionParticulars(program.metadata),
      platform: PLATFORM,
    },
    subject: {
      id: holder.id,
      name: printable(holder.name),
      dateOfBirth: holder.date_of_birth,
      nationality: knownCountry(holder.nationality),
      occupation: printableOrNull(holder.occupation),
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
      identityVerifications: verifications.rows.map((verification) => ({
        id: verification.id,
        provider: verification.provider,
        status: verification.status,
        // The provider's text: cleaned, as the merchant's is, rather than refuse the report for it.
        reference: printableOrNull(verification.provider_reference),
        startedAt: verification.created_at,
        decidedAt: verification.completed_at,
      })),
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
    caseContext(context),
    caseId,
    { ...input, ...(report === undefined ? {} : { report }) },
    by,
  );
  if (input.decision === 'false_positive') await resumeCaseCards(tx, context, decided);
  return decided;
}
