/**
 * The decision engine (DESIGN.md's authorization path) for a group of requests in one transaction: the group
 * commit in authorize.ts collects concurrent requests, and a single request is a group of one, so there is one
 * way to decide. Every read is one statement for the whole group, every lock is taken in one order (cardholders,
 * then wallet accounts; the programmes' settlement accounts only by the final write), each request is decided in
 * memory in arrival order against what the requests before it did, and everything is written in one round trip.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Queryable, QueryResult, SqlParam, Transaction } from '../platform/db/database.js';
import { rerunOnUniqueViolation } from '../platform/db/database.js';
import type { Settled } from '../platform/db/group-commit.js';
import { runTogether, type Statement } from '../platform/db/statements.js';
import { LantauError, invalidRequest, notFound } from '../platform/errors.js';
import { findCurrency } from '../platform/money.js';
import {
  LedgerWork,
  flattenResults,
  getAccounts,
  type Account,
  accountFromPrefixedRow,
  accountLockOrder,
  prefixedAccountColumns,
  type PrefixedAccountRow,
  type BatchResult,
  type TransferResult,
} from '../ledger/index.js';
import { eventsInsert, type EventInput } from '../records/outbox.js';
import { programAccountId } from '../issuing/programs.js';
import { cardFromRow, CARD_COLUMNS, type Card } from '../issuing/cards.js';
import { isExpired, expiryYYMM } from '../issuing/pan.js';
import type { SpendingControls } from '../issuing/spending-controls.js';
import type { KycStatus } from '../compliance/kyc/status.js';
import { perTransactionLimit } from '../compliance/kyc/tiers.js';
import { loadCvkPair, type StoredCvkPair } from '../vault/cvk-pairs.js';
import { CVV2_SERVICE_CODE, computeCvv } from '../vault/cvv.js';
import type { Keyring } from '../vault/keyring.js';
import {
  AUTHORIZATION_COLUMNS,
  authorizationFromRow,
  type Authorization,
  type AuthorizationRow,
  merchantKey,
} from './authorizations.js';
import {
  APPROVED,
  DECLINES,
  PARTIALLY_APPROVED,
  screeningAllows,
  VERIFIED,
  type Check,
  type DeclineReason,
} from './declines.js';
import { amountTooLargeAsBadInput, withRatesAhead } from './fx.js';
import {
  fitsLimits,
  usageKey,
  usagesSince,
  usageWindows,
  type LimitCheck,
  type UsageWindow,
} from './limits.js';
import type { AuthorizationRequestPayload, ProgramVerdict } from './program-decision.js';
import { GroupRisk, homeCountryOf, type RiskInput } from './risk-in-decision.js';
import type { AuthorizationRequest, CardOwner, CardReference, ProcessingContext } from './authorize.js';

/** One request in a group, with how to treat an approval. */
export interface DecideItem {
  readonly request: AuthorizationRequest;
  /** The programme's verdict, asked with the id it was shown. */
  readonly asked?: { readonly id: string; readonly verdict: ProgramVerdict };
  /**
   * An approval is not recorded but returned as what the programme would be asked: always (`preview`, inside a
   * transaction the caller rolls back), or only when the card's programme has a real-time endpoint (`ask`).
   */
  readonly approval?: 'record' | 'ask' | 'preview';
  /** The network already answered in stand-in (an ISO 8583 0120 advice): its answer stands, the checks explain. */
  readonly standIn?: NetworkStandIn;
}

/** What the network answered on the issuer's behalf while it could not reach it. */
export interface NetworkStandIn {
  readonly approved: boolean;
  /** The network's ISO 8583 response code, kept on the authorization as the network gave it. */
  readonly responseCode: string;
}

export type Decided =
  | { readonly kind: 'recorded'; readonly authorization: Authorization }
  | {
      readonly kind: 'ask';
      readonly payload: AuthorizationRequestPayload;
      /** The programme's endpoint version as this decision read it (undefined for a preview without one). */
      readonly endpointVersion: string | undefined;
    };

/** Lodging and car rental hold longer (DESIGN.md): 7011 and the hotel chains 3501–3999; 7512 and 3351–3500. */
export function extendedHoldMcc(mcc: string): boolean {
  const code = Number(mcc);
  return mcc === '7011' || mcc === '7512' || (code >= 3351 && code <= 3999);
}

export function networkKey(network: AuthorizationRequest['network']): string | null {
  return network === undefined
    ? null
    : [network.acquirerId, network.stan, network.rrn, network.transmissionTime].join('|');
}

// ---- What stays the same between requests, kept per database ----

const DIRECTORY_SIZE_MAX = 200_000;

/**
 * A card's owner (cardholder and programme) never changes, and a PAN's blind index always names the same card, so
 * lookups are kept without invalidation: the card row itself is still read, under its cardholder's lock, on every
 * decision, and a card that is gone is not found there. Bounded; the oldest entry leaves first.
 */
class CardDirectory {
  private readonly owners = new Map<string, CardOwner>();

  get(key: string): CardOwner | undefined {
    return this.owners.get(key);
  }

  set(key: string, owner: CardOwner): void {
    if (this.owners.size >= DIRECTORY_SIZE_MAX) {
      const oldest = this.owners.keys().next();
      if (oldest.done !== true) this.owners.delete(oldest.value);
    }
    this.owners.set(key, owner);
  }
}

/** What a process keeps for one database (or one vault), made on first use. */
function keptFor<Key extends object, Kept>(kept: WeakMap<Key, Kept>, key: Key, make: () => Kept): Kept {
  let found = kept.get(key);
  if (found === undefined) {
    found = make();
    kept.set(key, found);
  }
  return found;
}

/** A ledger account's id, programme, currency and flags never change: a programme's accounts are kept per process. */
const programAccounts = new WeakMap<Queryable, Map<string, Account>>();

async function programAccountsFor(tx: Queryable, db: Queryable, ids: readonly string[]): Promise<Account[]> {
  const wanted = [...new Set(ids)];
  if (wanted.length === 0) return [];
  const kept = keptFor(programAccounts, db, () => new Map<string, Account>());
  const missing = wanted.filter((id) => !kept.has(id));
  for (const [id, account] of await getAccounts(tx, missing)) kept.set(id, account);
  return wanted.map((id) => {
    const account = kept.get(id);
    // Every programme has its settlement account in each of its currencies from the day it is created.
    if (account === undefined) throw new Error(`ledger account ${id} does not exist`);
    return account;
  });
}

/** A programme has one CVK pair, never replaced (a second is refused): decrypted once per process. */
const cvkPairs = new WeakMap<Keyring, Map<string, StoredCvkPair>>();
const directories = new WeakMap<Queryable, CardDirectory>();

async function cvkPairFor(
  tx: Queryable,
  vault: Keyring,
  programId: string,
): Promise<StoredCvkPair | undefined> {
  const pairs = keptFor(cvkPairs, vault, () => new Map<string, StoredCvkPair>());
  const kept = pairs.get(programId);
  if (kept !== undefined) return kept;
  const loaded = await loadCvkPair(tx, vault, programId);
  if (loaded !== undefined) pairs.set(programId, loaded);
  return loaded;
}

/** The directory's key for a reference, with the PAN's blind index when it names the card by number. */
function referenceKey(
  context: Pick<ProcessingContext, 'vault'>,
  card: CardReference,
): { readonly key: string; readonly panIndex?: Buffer } {
  if ('id' in card) return { key: `id:${card.id}` };
  const panIndex = context.vault.blindIndex(card.pan, 'pan');
  return { key: `pan:${panIndex.toString('hex')}`, panIndex };
}

function unknownCard(request: { readonly card: CardReference }): LantauError {
  if ('id' in request.card) return notFound('card', request.card.id, 'card_id');
  // ISO 8583 answers this with 14; over HTTP an unknown card is a 404 like any unknown object.
  return new LantauError('card_not_found', 'No card has this number', { status: 404, param: 'pan' });
}

/** Finds the owners of many cards: from the directory, and the rest in one statement per kind of reference. */
async function findOwners(
  db: Queryable,
  context: Pick<ProcessingContext, 'vault' | 'db'>,
  requests: readonly { readonly programId?: string | undefined; readonly card: CardReference }[],
): Promise<(CardOwner | LantauError)[]> {
  const directory = keptFor(directories, context.db, () => new CardDirectory());
  const references = requests.map((request) => referenceKey(context, request.card));
  const { ids: missingIds, pans: missingPans } = toFind(
    requests,
    references,
    (key) => directory.get(key) !== undefined,
  );
  if (missingIds.size > 0) {
    const found = await db.query<{ id: string; cardholder_id: string; program_id: string }>(
      'SELECT id, cardholder_id, program_id FROM cards WHERE id = ANY($1::text[])',
      [[...missingIds]],
    );
    for (const row of found.rows) {
      directory.set(`id:${row.id}`, {
        cardId: row.id,
        cardholderId: row.cardholder_id,
        programId: row.program_id,
      });
    }
  }
  if (missingPans.size > 0) {
    const found = await db.query<{
      id: string;
      cardholder_id: string;
      program_id: string;
      pan_index: Uint8Array;
    }>('SELECT id, cardholder_id, program_id, pan_index FROM cards WHERE pan_index = ANY($1::bytea[])', [
      [...missingPans.values()],
    ]);
    for (const row of found.rows) {
      directory.set(`pan:${Buffer.from(row.pan_index).toString('hex')}`, {
        cardId: row.id,
        cardholderId: row.cardholder_id,
        programId: row.program_id,
      });
    }
  }
  return ownersOf(requests, references, (key) => directory.get(key));
}

/** The card ids and PAN blind indexes the references name, but for those `known` already answers. */
function toFind(
  requests: readonly { readonly card: CardReference }[],
  references: readonly { readonly key: string; readonly panIndex?: Buffer }[],
  known: (key: string) => boolean,
): { ids: Set<string>; pans: Map<string, Buffer> } {
  const ids = new Set<string>();
  const pans = new Map<string, Buffer>();
  requests.forEach((request, index) => {
    const reference = references[index];
    if (reference === undefined || known(reference.key)) return;
    if (reference.panIndex !== undefined) pans.set(reference.key, reference.panIndex);
    else if ('id' in request.card) ids.add(request.card.id);
  });
  return { ids, pans };
}

/** Each request's card owner by its reference; a programme key sees only its own cards, as if others did not exist. */
function ownersOf(
  requests: readonly { readonly programId?: string | undefined; readonly card: CardReference }[],
  references: readonly { readonly key: string }[],
  ownerOf: (key: string) => CardOwner | undefined,
): (CardOwner | LantauError)[] {
  return requests.map((request, index) => {
    const owner = ownerOf(references[index]?.key ?? '');
    if (owner === undefined || (request.programId !== undefined && request.programId !== owner.programId)) {
      return unknownCard(request);
    }
    return owner;
  });
}

/** Finds the card and its cardholder: by id within the caller's programme, or by its number's blind index. */
export async function findCard(
  db: Queryable,
  context: Pick<ProcessingContext, 'vault' | 'db'>,
  request: { readonly programId?: string | undefined; readonly card: CardReference },
): Promise<CardOwner> {
  const [owner] = await findOwners(db, context, [request]);
  if (owner === undefined) throw new Error('findOwners answered nothing for one request');
  if (owner instanceof LantauError) throw owner;
  return owner;
}

// ---- The locked state a group decides on ----

interface CardState {
  card: Card;
  readonly programId: string;
  readonly cardType: string;
  lockedMerchant: string | null;
  statusReason: string | null;
  readonly program: {
    readonly status: string;
    readonly fx_markup_bps: number;
    readonly hold_days: number;
    readonly extended_hold_days: number;
    /** The real-time endpoint's row version (xmin), null without one. */
    readonly endpoint_version: string | null;
    readonly region: string;
    readonly risk_rules_version: number;
    /** The programme's KYC tier limits as stored (compliance/kyc/tiers.ts); null for the defaults. */
    readonly kyc_tiers: unknown;
  };
  readonly wallet: { readonly status: string; readonly ledger_account_id: string };
  /** What risk remembers of the card's cardholder (risk/holder-state.ts); null before their first authorization. */
  readonly riskState: Uint8Array | null;
}

interface CardholderState {
  readonly status: string;
  readonly spending_controls: SpendingControls;
  readonly kyc_status: KycStatus;
  readonly screening_status: string;
}

type CardRow = Parameters<typeof cardFromRow>[0] & {
  locked_merchant: string | null;
  wallet_status: string;
  wallet_ledger_account_id: string;
  program_status: string;
  fx_markup_bps: number;
  hold_days: number;
  extended_hold_days: number;
  endpoint_version: string | null;
  region: string;
  risk_rules_version: number;
  kyc_tiers: unknown;
  risk_state: Uint8Array | null;
} & PrefixedAccountRow<'la_'>;

const PREFIXED_CARD_COLUMNS = CARD_COLUMNS.split(',')
  .map((column) => `c.${column.trim()}`)
  .join(', ');

/**
 * Finds the group's cards (by id, within the caller's programme, or by their number's blind index) and locks
 * their cardholders, in one statement and in cardholder id order: limits span all of a cardholder's cards, so
 * their authorizations queue there, and every writer on the authorization path (lifecycle, clearing) takes the same
 * lock first. A card's owner never changes, so reading it from the statement's snapshot while the lock is waited
 * for is exact; the cardholder's own row is read as locked.
 */
async function lockOwners(
  tx: Transaction,
  context: Pick<ProcessingContext, 'vault' | 'db'>,
  requests: readonly { readonly programId?: string | undefined; readonly card: CardReference }[],
): Promise<{ owners: (CardOwner | LantauError)[]; holders: Map<string, CardholderState> }> {
  const directory = keptFor(directories, context.db, () => new CardDirectory());
  const references = requests.map((request) => referenceKey(context, request.card));
  const { ids, pans } = toFind(requests, references, () => false);
  // Where every request speaks for a programme, another programme's cardholder is not even locked.
  const programs = requests.every((request) => request.programId !== undefined)
    ? [...new Set(requests.map((request) => request.programId ?? ''))]
    : null;
  const holders = new Map<string, CardholderState>();
  const found = new Map<string, CardOwner>();
  if (ids.size + pans.size > 0) {
    const rows = await tx.query<
      CardholderState & { id: string; cardholder_id: string; program_id: string; pan_index: Uint8Array }
    >(
      `SELECT c.id, c.cardholder_id, c.program_id, c.pan_index, h.status, h.spending_controls, h.kyc_status,
         h.screening_status
       FROM cards c JOIN cardholders h ON h.id = c.cardholder_id
       WHERE (c.id = ANY($1::text[]) OR c.pan_index = ANY($2::bytea[]))
         AND ($3::text[] IS NULL OR c.program_id = ANY($3::text[]))
       ORDER BY h.id
       FOR UPDATE OF h`,
      [[...ids], [...pans.values()], programs],
    );
    for (const row of rows.rows) {
      const owner = { cardId: row.id, cardholderId: row.cardholder_id, programId: row.program_id };
      const panKey = `pan:${Buffer.from(row.pan_index).toString('hex')}`;
      found.set(`id:${row.id}`, owner);
      found.set(panKey, owner);
      directory.set(`id:${row.id}`, owner);
      directory.set(panKey, owner);
      holders.set(row.cardholder_id, {
        status: row.status,
        spending_controls: row.spending_controls,
        kyc_status: row.kyc_status,
        screening_status: row.screening_status,
      });
    }
  }
  return { owners: ownersOf(requests, references, (key) => found.get(key)), holders };
}

/**
 * Under the cardholders' locks (`lockOwners`), one statement reads the cards with their wallets and programmes and
 * locks the wallets' ledger accounts, in the order every ledger writer locks accounts, after all the cardholders
 * as every writer on this path does. The cards get no row lock of their own: a card's state changes on this path
 * only under its cardholder's lock. A wait for an account's lock re-reads the account,
 * not the card, wallet or programme: a change made from the API without the cardholder's lock (a pause) that
 * commits during that wait is not seen, and the decision orders as if it came first, as one that began a moment
 * earlier would. A row lock on each card would close that window at the cost of a write per card per decision.
 *
 * The cardholders' risk states are read here too, and not with the cardholders' rows in `lockOwners`: that
 * statement's snapshot is taken before it waits for a lock, and a wait re-reads only the locked rows, so it could
 * see a state the holder of the lock has since rewritten. This statement starts with the locks held, so it sees
 * the last committed state, and no one else writes it until this group commits.
 */
async function readCards(
  tx: Transaction,
  owners: readonly CardOwner[],
): Promise<{ cards: Map<string, CardState>; accounts: Map<string, Account> }> {
  const cardIds = [...new Set(owners.map((owner) => owner.cardId))].sort();
  const cards = new Map<string, CardState>();
  const accounts = new Map<string, Account>();
  if (cardIds.length === 0) return { cards, accounts };
  const found = await tx.query<CardRow>(
    `SELECT ${PREFIXED_CARD_COLUMNS}, c.locked_merchant, w.status AS wallet_status,
       w.ledger_account_id AS wallet_ledger_account_id, p.status AS program_status, p.fx_markup_bps, p.hold_days,
       p.extended_hold_days, p.region, p.risk_rules_version, p.kyc_tiers,
       (SELECT e.xmin::text FROM authorization_endpoints e WHERE e.program_id = c.program_id) AS endpoint_version,
       (SELECT s.state FROM risk_cardholder_states s WHERE s.cardholder_id = c.cardholder_id) AS risk_state,
       ${prefixedAccountColumns('la', 'la_')}
     FROM cards c JOIN wallets w ON w.id = c.account_id JOIN programs p ON p.id = c.program_id
       JOIN ledger_accounts la ON la.id = w.ledger_account_id
     WHERE c.id = ANY($1::text[])
     ORDER BY ${accountLockOrder('la')}
     FOR UPDATE OF la`,
    [cardIds],
  );
  for (const row of found.rows) {
    cards.set(row.id, {
      card: cardFromRow(row),
      programId: row.program_id,
      cardType: row.type,
      lockedMerchant: row.locked_merchant,
      statusReason: row.status_reason,
      program: {
        status: row.program_status,
        fx_markup_bps: row.fx_markup_bps,
        hold_days: row.hold_days,
        extended_hold_days: row.extended_hold_days,
        endpoint_version: row.endpoint_version,
        region: row.region,
        risk_rules_version: row.risk_rules_version,
        kyc_tiers: row.kyc_tiers,
      },
      wallet: { status: row.wallet_status, ledger_account_id: row.wallet_ledger_account_id },
      riskState: row.risk_state,
    });
    accounts.set(row.la_id, accountFromPrefixedRow(row, 'la_'));
  }
  return { cards, accounts };
}

/** Reads that repeat within a group (the same FX rate for many requests) are made once. */
function rememberingReads(tx: Transaction): Transaction {
  const answers = new Map<string, Promise<QueryResult<unknown>>>();
  return {
    inTransaction: true,
    afterCommit: (callback) => tx.afterCommit(callback),
    exec: (sql) => tx.exec(sql),
    query<Row>(sql: string, params: readonly SqlParam[] = []): Promise<QueryResult<Row>> {
      const key = `${sql}\u0000${JSON.stringify(params)}`;
      let answer = answers.get(key);
      if (answer === undefined) {
        answer = tx.query<unknown>(sql, params);
        answers.set(key, answer);
      }
      return answer as Promise<QueryResult<Row>>;
    },
  };
}

// ---- The checks ----

function categoryAllowed(controls: SpendingControls, mcc: string): boolean {
  const allowed = controls.allowed_categories ?? [];
  if (allowed.length > 0 && !allowed.includes(mcc)) return false;
  return !(controls.blocked_categories ?? []).includes(mcc);
}

function countryAllowed(controls: SpendingControls, country: string | null): boolean {
  const allowed = controls.allowed_merchant_countries ?? [];
  if (allowed.length > 0 && (country === null || !allowed.includes(country))) return false;
  return country === null || !(controls.blocked_merchant_countries ?? []).includes(country);
}

/** Records each check in order; after the first failure the rest are `skipped`, so `checks` reads as a story. */
class CheckList {
  readonly checks: Check[] = [];
  failed: DeclineReason | undefined;

  run(check: string, outcome: () => DeclineReason | undefined | 'skipped', detail?: string): void {
    if (this.failed !== undefined) {
      this.checks.push({ check, result: 'skipped' });
      return;
    }
    const result = outcome();
    if (result === 'skipped') {
      this.checks.push({ check, result: 'skipped', ...(detail === undefined ? {} : { detail }) });
    } else if (result === undefined) {
      this.checks.push({ check, result: 'pass', ...(detail === undefined ? {} : { detail }) });
    } else {
      this.failed = result;
      this.checks.push({ check, result: 'fail', detail: detail ?? DECLINES[result].message });
    }
  }
}

function statusDecline(state: CardState): DeclineReason | undefined {
  if (state.card.status === 'paused') return 'card_paused';
  if (state.card.status === 'closed') {
    if (state.statusReason === 'lost') return 'card_lost';
    if (state.statusReason === 'stolen') return 'card_stolen';
    return 'card_closed';
  }
  return undefined;
}

function cvvMatches(cvk: StoredCvkPair | undefined, pan: string, card: Card, cvv2: string): boolean {
  if (cvk === undefined) return false;
  const expected = computeCvv({
    pan,
    expiryYYMM: expiryYYMM({ month: card.exp_month, year: card.exp_year }),
    serviceCode: CVV2_SERVICE_CODE,
    cvkA: cvk.cvkA,
    cvkB: cvk.cvkB,
  });
  return expected.length === cvv2.length && timingSafeEqual(Buffer.from(expected), Buffer.from(cvv2));
}

/** What identifies the buyer's device, as a blind index: its fingerprint when the channel gave one, else its IP. */
interface DeviceIndex {
  readonly index: Buffer;
  readonly kind: 'device' | 'ip';
}

function deviceIndexOf(
  context: Pick<ProcessingContext, 'vault'>,
  request: AuthorizationRequest,
): DeviceIndex | null {
  if (request.deviceId !== undefined)
    return { index: context.vault.blindIndex(request.deviceId, 'device'), kind: 'device' };
  // The caller gives it in canonical form (issuing/personal-data.ts `canonicalIp`), as a cardholder's is indexed.
  if (request.ipAddress !== undefined)
    return { index: context.vault.blindIndex(request.ipAddress, 'ip'), kind: 'ip' };
  return null;
}

function holdSeconds(state: CardState, mcc: string): number {
  const days = extendedHoldMcc(mcc) ? state.program.extended_hold_days : state.program.hold_days;
  return days * 24 * 60 * 60;
}

function singleResult(result: BatchResult): TransferResult {
  const [only] = flattenResults([result]);
  if (only === undefined) throw new Error('the ledger gave no result for one transfer');
  return only;
}

// ---- The group ----

type Conversion = Awaited<ReturnType<ProcessingContext['convert']>>;

/** What a group inserts for one recorded decision. */
interface NewAuthorization {
  readonly index: number;
  /** The row as stored: the answer is made from it, without reading it back. */
  readonly row: AuthorizationRow;
  readonly networkKey: string | null;
  /** The blind index of the device or IP address the request came from. */
  readonly deviceIndex: DeviceIndex | null;
  readonly cardUpdate: 'close_single_use' | 'lock_merchant' | undefined;
  readonly state: CardState;
}

/** An approval already decided in this group, counted by later requests' limits. */
interface GroupApproval {
  readonly cardId: string;
  readonly cardholderId: string;
  readonly currency: string;
  readonly mcc: string;
  readonly amount: number;
}

const INSERT_COLUMNS = `id, program_id, card_id, cardholder_id, account_id, status, approved, response_code,
  decline_reason, decline_message, requested_amount, approved_amount, amount, currency, merchant_amount,
  merchant_currency, fx_rate, fx_markup_bps, fx_source, merchant, mcc, merchant_country, entry_mode,
  partial_allowed, network_key, hold_ids, expires_at, checks, created_at, updated_at, request_history,
  program_decision, risk, device_index, device_kind`;

/**
 * Decides a group of requests in the caller's transaction. Each request gets its own outcome: a refusal of one
 * (an unknown card, bad input) does not affect the others. A failure of the group as a whole (the database, a
 * twin's network identity committed meanwhile) is thrown, and the caller decides each request again alone.
 */
export async function decideGroup(
  tx: Transaction,
  context: ProcessingContext,
  items: readonly DecideItem[],
): Promise<Settled<Decided>[]> {
  const outcomes: (Settled<Decided> | undefined)[] = items.map(() => undefined);
  const refuse = (index: number, error: unknown): void => {
    outcomes[index] = { ok: false, error };
  };
  items.forEach((item, index) => {
    // An unknown currency is bad input, not a decline: no rate could ever exist for it.
    if (findCurrency(item.request.currency) === undefined) {
      refuse(
        index,
        invalidRequest(
          'currency_invalid',
          `${item.request.currency} is not an ISO 4217 currency code`,
          'currency',
        ),
      );
    }
  });
  const itemAt = (index: number): DecideItem => {
    const item = items[index];
    if (item === undefined) throw new Error(`no request at ${index}`);
    return item;
  };
  const live = (): number[] => items.flatMap((_, index) => (outcomes[index] === undefined ? [index] : []));

  const liveIndexes = live();
  const locked = await lockOwners(
    tx,
    context,
    liveIndexes.map((index) => itemAt(index).request),
  );
  const { holders } = locked;
  const owners = new Map<number, CardOwner>();
  liveIndexes.forEach((index, position) => {
    const owner = locked.owners[position];
    if (owner === undefined || owner instanceof LantauError)
      refuse(index, owner ?? unknownCard(itemAt(index).request));
    else owners.set(index, owner);
  });
  const { cards, accounts } = await readCards(tx, [...owners.values()]);
  for (const index of live()) {
    const owner = owners.get(index);
    if (owner === undefined || !cards.has(owner.cardId) || !holders.has(owner.cardholderId)) {
      refuse(index, unknownCard(itemAt(index).request));
    }
  }
  const stateOf = (index: number): { state: CardState; holder: CardholderState } => {
    const owner = owners.get(index);
    const state = owner === undefined ? undefined : cards.get(owner.cardId);
    const holder = owner === undefined ? undefined : holders.get(owner.cardholderId);
    if (state === undefined || holder === undefined) throw new Error('a live request lost its card');
    return { state, holder };
  };

  const ledger = new LedgerWork(context.clock.now(), accounts);
  // The time is read after the locks are held, as the ledger's own writes do.
  const now = ledger.now;

  // Reads, each one statement for the group.
  const keys = new Map<number, string>();
  for (const index of live()) {
    const key = networkKey(itemAt(index).request.network);
    if (key !== null) keys.set(index, key);
  }
  const firsts = new Map<string, AuthorizationRow>();
  if (keys.size > 0) {
    const rows = await tx.query<AuthorizationRow & { network_key: string }>(
      `SELECT ${AUTHORIZATION_COLUMNS}, network_key FROM authorizations WHERE network_key = ANY($1::text[])`,
      [[...new Set(keys.values())]],
    );
    for (const row of rows.rows) firsts.set(row.network_key, row);
  }
  const limitCheck = (index: number, amount: number): LimitCheck => {
    const { state, holder } = stateOf(index);
    return {
      cardId: state.card.id,
      cardControls: state.card.spending_controls,
      cardholderId: state.card.cardholder_id,
      cardholderControls: holder.spending_controls,
      currency: state.card.currency,
      mcc: itemAt(index).request.merchant.mcc,
      amount,
      authorizationTotal: amount,
      now,
    };
  };
  const usage = await usagesSince(
    tx,
    live().flatMap((index) => usageWindows(limitCheck(index, 0))),
  );
  const reads = await withRatesAhead(
    rememberingReads(tx),
    live().map((index) => ({
      base: itemAt(index).request.currency,
      quote: stateOf(index).state.card.currency,
    })),
    now,
  );
  const conversions = new Map<number, Conversion>();
  const cvvResults = new Map<number, boolean>();
  for (const index of live()) {
    const { request } = itemAt(index);
    const { state } = stateOf(index);
    try {
      conversions.set(
        index,
        // Converted even when a check fails, so a decline records what was asked in the card's currency too.
        await context
          .convert(reads, {
            merchantAmount: request.amount,
            merchantCurrency: request.currency,
            cardCurrency: state.card.currency,
            markupBps: state.program.fx_markup_bps,
            at: now,
          })
          .catch(amountTooLargeAsBadInput),
      );
    } catch (error) {
      if (!(error instanceof LantauError)) throw error;
      refuse(index, error);
      continue;
    }
    if ('pan' in request.card && request.card.cvv2 !== undefined) {
      const cvk = await cvkPairFor(tx, context.vault, state.programId);
      cvvResults.set(index, cvvMatches(cvk, request.card.pan, state.card, request.card.cvv2));
    }
  }

  // The programmes' settlement accounts, which every hold credits, are never read for a decision (they have no
  // limit): their rows are changed by increments as the group's last write, locked only from there to commit.
  const settlementAccounts = await programAccountsFor(
    tx,
    context.db,
    live().map((index) => {
      const { state } = stateOf(index);
      return programAccountId(state.programId, 'card_settlement', state.card.currency);
    }),
  );
  for (const account of settlementAccounts) ledger.incrementOnly(account);

  const riskStates = new Map<string, { programId: string; state: Uint8Array | null }>();
  const riskVersions = new Map<string, number>();
  for (const index of live()) {
    const { state } = stateOf(index);
    riskStates.set(state.card.cardholder_id, { programId: state.programId, state: state.riskState });
    riskVersions.set(state.programId, state.program.risk_rules_version);
  }
  const risk = await GroupRisk.start(tx, context.db, riskStates, riskVersions, now);

  const inserts: NewAuthorization[] = [];
  const approvals: GroupApproval[] = [];
  // A repeat of a request decided earlier in this group is answered from it once it is recorded.
  const repeatsOf = new Map<number, number>();
  const decidedKeys = new Map<string, { index: number; cardId: string }>();

  for (const index of live()) {
    const item = itemAt(index);
    const { request } = item;
    const { state, holder } = stateOf(index);
    const key = keys.get(index) ?? null;
    if (key !== null) {
      // Under the cardholder's lock a repeat sees its first answer, committed or decided just before in this group.
      const first = firsts.get(key);
      const earlier = decidedKeys.get(key);
      const firstCard = first?.card_id ?? earlier?.cardId;
      if (firstCard !== undefined) {
        // The same identity for another card is not a repeat, and must not show that card's answer (it may be
        // another programme's): ISO 8583's 94, duplicate transmission.
        if (firstCard !== state.card.id) {
          refuse(
            index,
            new LantauError(
              'duplicate_transmission',
              'A message with this network identity was already answered for another card',
              { status: 409, param: 'network' },
            ),
          );
        } else if (first !== undefined) {
          outcomes[index] = {
            ok: true,
            value: { kind: 'recorded', authorization: authorizationFromRow(first) },
          };
        } else if (earlier !== undefined) {
          repeatsOf.set(index, earlier.index);
        }
        continue;
      }
    }

    const id = item.asked?.id ?? context.ids('auth');
    const checks = new CheckList();
    const { merchant } = request;
    const { card } = state;

    checks.run('program', () => (state.program.status === 'active' ? undefined : 'program_suspended'));
    checks.run('card_status', () => statusDecline(state));
    checks.run('expiry', () => {
      const expiry = { month: card.exp_month, year: card.exp_year };
      if (
        'pan' in request.card &&
        request.card.expMonth !== undefined &&
        request.card.expYear !== undefined
      ) {
        if (request.card.expMonth !== expiry.month || request.card.expYear !== expiry.year)
          return 'expiry_mismatch';
      }
      return isExpired(expiry, now) ? 'card_expired' : undefined;
    });
    checks.run('cvv2', () => {
      const matches = cvvResults.get(index);
      if (matches === undefined) return 'skipped';
      return matches ? undefined : 'cvv2_mismatch';
    });
    checks.run('cardholder', () => (holder.status === 'active' ? undefined : 'cardholder_inactive'));
    // Screening pauses the cards of a cardholder it finds; this catches a card resumed or issued around that.
    checks.run('screening', () => (screeningAllows(holder.screening_status) ? undefined : 'compliance_hold'));
    checks.run('account', () =>
      state.wallet.status === 'active'
        ? undefined
        : state.wallet.status === 'frozen'
          ? 'account_frozen'
          : 'account_inactive',
    );
    checks.run('merchant_lock', () => {
      if (state.cardType !== 'merchant_locked') return 'skipped';
      return state.lockedMerchant === null || state.lockedMerchant === merchantKey(merchant)
        ? undefined
        : 'merchant_locked';
    });
    checks.run('merchant_category', () =>
      categoryAllowed(card.spending_controls, merchant.mcc) &&
      categoryAllowed(holder.spending_controls, merchant.mcc)
        ? undefined
        : 'merchant_category_blocked',
    );
    checks.run('merchant_country', () =>
      countryAllowed(card.spending_controls, merchant.country) &&
      countryAllowed(holder.spending_controls, merchant.country)
        ? undefined
        : 'merchant_country_blocked',
    );
    const converted = conversions.get(index);
    checks.run('currency_conversion', () => (converted === undefined ? 'fx_rate_unavailable' : undefined));
    const amount = converted?.amount ?? 0;
    checks.run('spending_limits', () => {
      const check = limitCheck(index, amount);
      // What this group approved before this request counts as if it had committed.
      const used = (window: UsageWindow): number =>
        (usage.get(usageKey(window)) ?? 0) +
        approvals
          .filter(
            (approval) =>
              (window.column === 'card_id' ? approval.cardId : approval.cardholderId) === window.id &&
              approval.currency === window.currency &&
              (window.categories === undefined || window.categories.includes(approval.mcc)),
          )
          .reduce((sum, approval) => sum + approval.amount, 0);
      return fitsLimits(check, used) ? undefined : 'spending_limit_exceeded';
    });
    // KYC-tier limits (DESIGN.md's order: after the spend controls, before risk): the cardholder's tier's
    // per-transaction maximum in the card's currency; skipped where the programme has no limits for the currency.
    const kyc = perTransactionLimit(state.program.kyc_tiers, holder.kyc_status, card.currency, amount);
    checks.run(
      'kyc_limit',
      () => (kyc.within === undefined ? 'skipped' : kyc.within ? undefined : 'kyc_limit_exceeded'),
      kyc.detail,
    );
    // Assessed whatever the checks before said, so every authorization has its score and counts in the features.
    const deviceIndex = deviceIndexOf(context, request);
    const riskInput: RiskInput = {
      programId: state.programId,
      cardId: card.id,
      cardholderId: card.cardholder_id,
      homeCountry: homeCountryOf(state.program.region),
      merchantKey: merchantKey(merchant),
      merchantCountry: merchant.country,
      entryMode: request.entryMode,
      deviceKey: deviceIndex === null ? null : deviceIndex.index.toString('hex'),
      amount,
      fields: {
        merchant_amount: request.amount,
        merchant_currency: request.currency,
        currency: card.currency,
        'merchant.mcc': merchant.mcc,
        'merchant.country': merchant.country,
        'merchant.acceptor_id': merchant.acceptor_id,
        'merchant.name': merchant.name,
        'card.id': card.id,
        'cardholder.id': card.cardholder_id,
      },
    };
    const { features: riskFeatures, assessment } = risk.assess(riskInput);
    checks.run(
      'risk',
      () => (assessment.record.verdict === 'decline' ? 'suspected_fraud' : undefined),
      assessment.record.verdict === 'review' ? 'review: approved, alert raised' : assessment.declineDetail,
    );

    const verdict = item.asked?.verdict;
    if (verdict !== undefined) checks.run('program_decision', () => verdict.decline, verdict.detail);
    // The programme may approve less than asked: the hold is what it approved (a partial approval, code 10).
    const holdAmount = verdict?.amount === undefined ? amount : Math.min(amount, verdict.amount);

    const mark = ledger.mark();
    // Written by the balance check (TypeScript does not follow assignments made inside a callback).
    const held: { holdId: string | null; approvedAmount: number } = { holdId: null, approvedAmount: 0 };
    const timeoutSeconds = holdSeconds(state, merchant.mcc);
    checks.run('balance', () => {
      if (amount === 0) return 'skipped';
      const walletAccount = state.wallet.ledger_account_id;
      const hold = (value: number): TransferResult =>
        singleResult(
          ledger.apply({
            id: context.ids('hold'),
            kind: 'pending',
            debitAccountId: walletAccount,
            creditAccountId: programAccountId(state.programId, 'card_settlement', card.currency),
            amount: value,
            currency: card.currency,
            timeoutSeconds,
            code: 'authorization_hold',
            reference: id,
          }),
        );
      // A hold beyond 2^53 - 1 minor units is more than any wallet holds: short of funds like exceeds_credits.
      const short = (result: TransferResult): boolean =>
        result.status === 'failed' &&
        (result.error === 'exceeds_credits' || result.error === 'overflows_balance');
      let result = hold(holdAmount);
      if (short(result) && request.partialAllowed) {
        // A partial approval (code 10): hold what the wallet has, when it has anything.
        const account = ledger.account(walletAccount);
        const available =
          account === undefined ? 0 : account.creditsPosted - account.debitsPosted - account.debitsPending;
        if (available <= 0) return 'insufficient_funds';
        result = hold(Math.min(available, holdAmount));
      }
      if (result.status === 'failed') {
        if (short(result)) return 'insufficient_funds';
        throw new Error(`the ledger refused a hold: ${result.error}`);
      }
      held.holdId = result.transfer.id;
      held.approvedAmount = result.transfer.amount;
      return undefined;
    });
    const standIn = item.standIn;
    let holdId = held.holdId;
    let approvedAmount = held.approvedAmount;
    let declined: DeclineReason | undefined = checks.failed;
    let holdAmountNow = approvedAmount;
    if (standIn?.approved === true && converted === undefined) {
      // Approved by the network in a currency Lantau has no rate for: recording it would approve 0 and clearing
      // could not convert it. Refused, so the network sends the advice again once the operator has a rate.
      ledger.undoTo(mark);
      refuse(
        index,
        new LantauError(
          'fx_rate_unavailable',
          `No exchange rate from ${request.currency} to ${card.currency}: the stand-in approval cannot be recorded`,
          { status: 422, param: 'currency' },
        ),
      );
      continue;
    }
    if (standIn !== undefined) {
      const engine = declined;
      if (standIn.approved) {
        // The network approved on the issuer's behalf, so the issuer owes it: the whole amount is approved, and
        // what the wallet cannot hold now is collected at clearing (the shortfall goes to the receivable account).
        if (holdId === null && amount > 0) {
          const walletAccount = state.wallet.ledger_account_id;
          const account = ledger.account(walletAccount);
          const available =
            account === undefined ? 0 : account.creditsPosted - account.debitsPosted - account.debitsPending;
          if (available > 0) {
            const result = singleResult(
              ledger.apply({
                id: context.ids('hold'),
                kind: 'pending',
                debitAccountId: walletAccount,
                creditAccountId: programAccountId(state.programId, 'card_settlement', card.currency),
                amount: Math.min(available, amount),
                currency: card.currency,
                timeoutSeconds,
                code: 'authorization_hold',
                reference: id,
              }),
            );
            if (result.status === 'failed')
              throw new Error(`the ledger refused a stand-in hold: ${result.error}`);
            holdId = result.transfer.id;
            holdAmountNow = result.transfer.amount;
          }
        }
        approvedAmount = amount;
        declined = undefined;
      } else {
        ledger.undoTo(mark);
        holdId = null;
        approvedAmount = 0;
        holdAmountNow = 0;
        declined = 'stand_in_declined';
      }
      checks.checks.push({
        check: 'network_stand_in',
        result: standIn.approved ? 'pass' : 'fail',
        detail:
          `${standIn.approved ? 'approved' : 'declined'} by the network in stand-in (${standIn.responseCode}); ` +
          (engine === undefined ? 'Lantau’s checks passed' : `Lantau would have declined: ${engine}`) +
          (standIn.approved && holdAmountNow < amount
            ? `; ${amount - holdAmountNow} not held, short of funds`
            : ''),
      });
    }

    const toAsk =
      standIn === undefined &&
      declined === undefined &&
      (item.approval === 'preview' || (item.approval === 'ask' && state.program.endpoint_version !== null));
    if (toAsk) {
      // Nothing is recorded: the caller asks the programme (with no transaction open) and decides again.
      ledger.undoTo(mark);
      outcomes[index] = {
        ok: true,
        value: {
          kind: 'ask',
          endpointVersion: state.program.endpoint_version ?? undefined,
          payload: {
            id,
            object: 'authorization_request',
            program_id: state.programId,
            card_id: card.id,
            cardholder_id: card.cardholder_id,
            account_id: card.account_id,
            amount: approvedAmount,
            requested_amount: amount,
            currency: card.currency,
            merchant_amount: request.amount,
            merchant_currency: request.currency,
            fx_rate: converted?.rate ?? null,
            merchant,
            entry_mode: request.entryMode,
            partial_allowed: request.partialAllowed,
            checks: checks.checks,
            created: now.toISOString(),
          },
        },
      };
      continue;
    }

    const approved = declined === undefined;
    const responseCode =
      standIn !== undefined
        ? standIn.responseCode
        : declined !== undefined
          ? DECLINES[declined].code
          : amount === 0
            ? VERIFIED
            : approvedAmount < amount
              ? PARTIALLY_APPROVED
              : APPROVED;
    if (approved) {
      approvals.push({
        cardId: card.id,
        cardholderId: card.cardholder_id,
        currency: card.currency,
        mcc: merchant.mcc,
        amount: approvedAmount,
      });
    }
    let cardUpdate: NewAuthorization['cardUpdate'];
    // Single-use cards close after their first approval that holds money (an account verification, amount 0,
    // does not use the card up: merchants verify a card before the purchase that follows); merchant-locked cards
    // lock to their first merchant. Later requests in the group see the change.
    if (approved && state.cardType === 'single_use' && approvedAmount > 0 && state.card.status !== 'closed') {
      cardUpdate = 'close_single_use';
      state.card = { ...state.card, status: 'closed' };
      state.statusReason = 'single_use_used';
    } else if (
      approved &&
      state.cardType === 'merchant_locked' &&
      state.lockedMerchant === null &&
      state.card.status !== 'closed'
    ) {
      cardUpdate = 'lock_merchant';
      state.lockedMerchant = merchantKey(merchant);
    }
    if (key !== null) decidedKeys.set(key, { index, cardId: card.id });
    risk.record(riskInput, riskFeatures, approved);
    inserts.push({
      index,
      state,
      cardUpdate,
      networkKey: key,
      deviceIndex,
      row: {
        id,
        program_id: state.programId,
        card_id: card.id,
        cardholder_id: card.cardholder_id,
        account_id: card.account_id,
        status: !approved ? 'declined' : amount === 0 ? 'closed' : 'pending',
        approved,
        response_code: responseCode,
        decline_reason: declined ?? null,
        decline_message: declined === undefined ? null : DECLINES[declined].message,
        requested_amount: amount,
        approved_amount: approvedAmount,
        amount: standIn === undefined ? approvedAmount : holdAmountNow,
        currency: card.currency,
        merchant_amount: request.amount,
        merchant_currency: request.currency,
        fx_rate: converted?.rate ?? null,
        fx_markup_bps: converted?.markupBps ?? null,
        fx_source: converted?.source ?? null,
        merchant,
        entry_mode: request.entryMode,
        partial_allowed: request.partialAllowed,
        hold_ids: holdId === null ? [] : [holdId],
        // A stand-in approval with nothing held still lapses, so it does not stay open forever.
        expires_at:
          holdId === null && !(standIn?.approved === true && amount > 0)
            ? null
            : new Date(now.getTime() + timeoutSeconds * 1000),
        checks: checks.checks,
        request_history: [
          {
            kind: 'authorization',
            requested_amount: amount,
            amount: approvedAmount,
            approved,
            response_code: responseCode,
            decline_reason: declined ?? null,
            created: now.toISOString(),
          },
        ],
        cleared_amount: 0,
        program_decision: verdict === undefined ? null : verdict.record,
        risk: assessment.record,
        created_at: now,
        updated_at: now,
      },
    });
  }

  // Card changes are rare (a single-use card's first approval) and their events carry the changed row.
  const events: EventInput[] = [];
  for (const insert of inserts) {
    const authorization = authorizationFromRow(insert.row);
    outcomes[insert.index] = { ok: true, value: { kind: 'recorded', authorization } };
    events.push({ type: 'authorization.created', programId: insert.state.programId, object: authorization });
    if (authorization.approved && authorization.risk?.verdict === 'review') {
      // A review rule approves and asks for a person to look: the alert is its own event, for webhooks and
      // monitoring to pick up.
      events.push({
        type: 'authorization.risk_alert',
        programId: insert.state.programId,
        object: authorization,
      });
    }
    const changed = await updateCard(tx, insert, now);
    if (changed !== undefined) {
      events.push({ type: 'card.updated', programId: insert.state.programId, object: changed });
    }
  }
  // Every other row the group writes, in one round trip: transfers, balances, authorizations, events, and last
  // the settlement accounts' increments, their rows locked from there to the commit that follows.
  const ledgerWrites = ledger.writes();
  const statements = [
    ...ledgerWrites.statements,
    authorizationsInsert(inserts),
    eventsInsert(context, events).statement,
    risk.statement(),
    ledgerWrites.last,
  ];
  const returned = await runTogether(tx, statements)
    // The same network identity arriving at once in two transactions: neither saw the other's row. Re-running the
    // group finds the first and answers as a repeat would.
    .catch(rerunOnUniqueViolation('a message with the same network identity was decided concurrently'));
  ledgerWrites.check(returned[statements.length - 1] ?? []);
  risk.countOnCommit(tx);
  for (const [index, earlier] of repeatsOf) outcomes[index] = outcomes[earlier];

  return outcomes.map(
    (outcome) => outcome ?? { ok: false, error: new Error('a request was left undecided') },
  );
}

/** The INSERT of the group's authorizations, its rows as one JSON document (see `eventsInsert`). */
function authorizationsInsert(inserts: readonly NewAuthorization[]): Statement | undefined {
  if (inserts.length === 0) return undefined;
  const rows = inserts.map(({ row, networkKey, deviceIndex }) => ({
    ...row,
    mcc: row.merchant.mcc,
    merchant_country: row.merchant.country,
    network_key: networkKey,
    device_index: deviceIndex === null ? null : deviceIndex.index.toString('hex'),
    device_kind: deviceIndex?.kind ?? null,
  }));
  return {
    sql: `INSERT INTO authorizations (${INSERT_COLUMNS})
       SELECT id, program_id, card_id, cardholder_id, account_id, status, approved, response_code, decline_reason,
         decline_message, requested_amount, approved_amount, amount, currency, merchant_amount, merchant_currency,
         fx_rate, fx_markup_bps, fx_source, merchant, mcc, merchant_country, entry_mode, partial_allowed,
         network_key, hold_ids, expires_at, checks, created_at, updated_at, request_history, program_decision, risk,
         decode(device_index, 'hex'), device_kind
       FROM json_to_recordset($1::json) AS n(id text, program_id text, card_id text, cardholder_id text,
         account_id text, status text, approved boolean, response_code text, decline_reason text,
         decline_message text, requested_amount bigint, approved_amount bigint, amount bigint, currency text,
         merchant_amount bigint, merchant_currency text, fx_rate numeric, fx_markup_bps integer, fx_source text,
         merchant jsonb, mcc text, merchant_country text, entry_mode text, partial_allowed boolean,
         network_key text, hold_ids text[], expires_at timestamptz, checks jsonb, created_at timestamptz,
         updated_at timestamptz, request_history jsonb, program_decision jsonb, risk jsonb, device_index text,
         device_kind text)`,
    params: [JSON.stringify(rows)],
  };
}

async function updateCard(tx: Transaction, insert: NewAuthorization, now: Date): Promise<Card | undefined> {
  if (insert.cardUpdate === undefined) return undefined;
  const changed =
    insert.cardUpdate === 'close_single_use'
      ? await tx.query<Parameters<typeof cardFromRow>[0]>(
          `UPDATE cards SET status = 'closed', status_reason = 'single_use_used', closed_at = $2, updated_at = $2
           WHERE id = $1 RETURNING ${CARD_COLUMNS}`,
          [insert.state.card.id, now],
        )
      : await tx.query<Parameters<typeof cardFromRow>[0]>(
          `UPDATE cards SET locked_merchant = $2, updated_at = $3 WHERE id = $1 RETURNING ${CARD_COLUMNS}`,
          [insert.state.card.id, merchantKey(insert.row.merchant), now],
        );
  const row = changed.rows[0];
  return row === undefined ? undefined : cardFromRow(row);
}
