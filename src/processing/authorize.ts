import type { Database, Transaction } from '../platform/db/database.js';
import type { Clock } from '../platform/clock.js';
import { GroupCommit, type Settled } from '../platform/db/group-commit.js';
import type { IdGenerator } from '../platform/ids.js';
import type { Keyring } from '../vault/keyring.js';
import type { Authorization, EntryMode, Merchant } from './authorizations.js';
import { decideGroup, findCard, type Decided, type DecideItem, type NetworkStandIn } from './decide.js';
import {
  verdictOf,
  type AuthorizationRequestPayload,
  type ProgramDecisions,
  type ProgramVerdict,
} from './program-decision.js';

export { extendedHoldMcc, findCard, networkKey, type NetworkStandIn } from './decide.js';

/** Converts a merchant amount into the card's currency (fx.ts); undefined when no rate exists. */
export type Converter = (
  db: Transaction,
  input: {
    readonly merchantAmount: number;
    readonly merchantCurrency: string;
    readonly cardCurrency: string;
    readonly markupBps: number;
    readonly at: Date;
  },
) => Promise<{ amount: number; rate: string; markupBps: number; source: string } | undefined>;

export interface ProcessingContext {
  readonly db: Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly vault: Keyring;
  readonly convert: Converter;
  /** The programmes' real-time decision endpoints (delivery implements it); absent: the engine decides alone. */
  readonly programDecisions?: ProgramDecisions;
}

/**
 * What happened before the transaction that records the decision: the programme's verdict with the authorization id
 * it was shown, or the decision itself when the engine could take it without asking (a decline on its own checks,
 * or a network repeat), already recorded.
 */
export type AskedProgram =
  | { readonly kind: 'asked'; readonly id: string; readonly verdict: ProgramVerdict }
  | { readonly kind: 'decided'; readonly authorization: Authorization };

/** Rolls back a preview: the engine's decision, made to be shown to the programme, must leave nothing behind. */
class PreviewRollback extends Error {
  constructor(readonly payload: AuthorizationRequestPayload) {
    super('preview rolled back');
    this.name = 'PreviewRollback';
  }
}

/** How the network (or the simulator) names a card: by id, or by number with what the cardholder typed. */
export type CardReference =
  | { readonly id: string }
  | { readonly pan: string; readonly expMonth?: number; readonly expYear?: number; readonly cvv2?: string };

/** The network's identity of a message: a repeat with the same identity gets the first answer. */
export interface NetworkIdentity {
  readonly acquirerId: string;
  readonly stan: string;
  readonly rrn: string;
  readonly transmissionTime: string;
}

export interface AuthorizationRequest {
  /** The programme the caller speaks for (a programme key); undefined for the network, which may name any card. */
  readonly programId?: string;
  readonly card: CardReference;
  /** In the merchant's currency, minor units; 0 is an account verification. */
  readonly amount: number;
  readonly currency: string;
  readonly merchant: Merchant;
  readonly entryMode: EntryMode;
  readonly partialAllowed: boolean;
  readonly network?: NetworkIdentity;
  /** The device fingerprint and IP address the channel carried (e-commerce); risk counts by the first present. */
  readonly deviceId?: string;
  readonly ipAddress?: string;
}

/** A card and the cardholder whose lock its authorizations take first. */
export interface CardOwner {
  readonly cardId: string;
  readonly cardholderId: string;
  readonly programId: string;
}

/** Requests in one group (one transaction); past it, the next group. */
const GROUP_SIZE_MAX = 128;
/** Requests waiting beyond the running groups before callers are told to retry (503). */
const QUEUED_MAX = 8_192;

const groups = new WeakMap<ProcessingContext, GroupCommit<DecideItem, Decided>>();

/**
 * The context's group commit. PostgreSQL runs two groups at once, so one group's round trips overlap the other's
 * commit (their only common rows are the programmes' settlement accounts, locked last); PGlite has one connection.
 */
function groupFor(context: ProcessingContext): GroupCommit<DecideItem, Decided> {
  let group = groups.get(context);
  if (group === undefined) {
    group = new GroupCommit<DecideItem, Decided>(
      (items) => context.db.transaction((tx) => decideGroup(tx, context, items), { planning: 'generic' }),
      {
        batchMax: GROUP_SIZE_MAX,
        inFlightMax: context.db.backend === 'postgres' ? 2 : 1,
        queuedMax: QUEUED_MAX,
      },
    );
    groups.set(context, group);
  }
  return group;
}

function unwrap(outcome: Settled<Decided> | undefined): Decided {
  if (outcome === undefined) throw new Error('a decision gave no outcome');
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

function recorded(decided: Decided): Authorization {
  if (decided.kind !== 'recorded') throw new Error('a decision that records was answered with a preview');
  return decided.authorization;
}

/**
 * The decision, end to end (DESIGN.md): card, expiry, CVV2, state, controls, conversion, limits, the programme's
 * own real-time decision when it has an endpoint, balance; then the hold, the authorization and its event. A
 * well-formed request about a card that fails a check is a decline, recorded like an approval; only malformed
 * requests and unknown cards are errors. Concurrent calls are decided together, many to a transaction (group
 * commit); each gets its own answer.
 *
 * When the card's programme has a real-time endpoint and the engine would approve, nothing is recorded at first:
 * with no transaction or lock open, the programme is asked, and the request is decided again with its verdict.
 */
export async function authorize(
  context: ProcessingContext,
  request: AuthorizationRequest,
): Promise<Authorization> {
  const group = groupFor(context);
  const decisions = context.programDecisions;
  const first = await group.submit({ request, approval: decisions === undefined ? 'record' : 'ask' });
  if (first.kind === 'recorded') return first.authorization;
  const endpoint =
    decisions === undefined
      ? undefined
      : await decisions.endpointFor(first.payload.program_id, first.endpointVersion);
  if (decisions === undefined || endpoint === undefined) {
    // The endpoint was removed since: the engine decides alone.
    return recorded(await group.submit({ request }));
  }
  const answer = await decisions.ask(endpoint, first.payload);
  const verdict = verdictOf(endpoint, first.payload, answer);
  return recorded(await group.submit({ request, asked: { id: first.payload.id, verdict } }));
}

/**
 * Records an advice's decision as a new authorization (see advices.ts), or answers with the authorization that
 * already carries its network identity: a repeat of the advice, or the request Lantau decided before the network
 * stood in.
 */
export async function decideAdvice(
  context: ProcessingContext,
  request: AuthorizationRequest,
  standIn: NetworkStandIn,
): Promise<Authorization> {
  return recorded(await groupFor(context).submit({ request, standIn, approval: 'record' }));
}

/**
 * When the card's programme has a real-time endpoint: decides as the engine would in a transaction that is rolled
 * back (the hold and every lock released), then, with no transaction open, asks the programme and returns its
 * verdict for `authorizeIn` to apply. A request the engine declines on its own checks, or a repeat, is answered
 * there and then (`decided`). Undefined when the programme has no endpoint.
 */
export async function askProgram(
  context: ProcessingContext,
  request: AuthorizationRequest,
): Promise<AskedProgram | undefined> {
  const decisions = context.programDecisions;
  if (decisions === undefined) return undefined;
  const owner = await findCard(context.db, context, request);
  const endpoint = await decisions.endpointFor(owner.programId);
  if (endpoint === undefined) return undefined;
  let payload: AuthorizationRequestPayload;
  try {
    // A decline on the engine's own checks (or a repeat) is the answer: it commits here and is never decided twice.
    // An approval is rolled back, to be decided again with the programme's verdict.
    const decided = await context.db.transaction(async (tx) => {
      const preview = unwrap((await decideGroup(tx, context, [{ request, approval: 'preview' }]))[0]);
      if (preview.kind === 'ask') throw new PreviewRollback(preview.payload);
      return preview.authorization;
    });
    return { kind: 'decided', authorization: decided };
  } catch (error) {
    if (!(error instanceof PreviewRollback)) throw error;
    payload = error.payload;
  }
  const answer = await decisions.ask(endpoint, payload);
  return { kind: 'asked', id: payload.id, verdict: verdictOf(endpoint, payload, answer) };
}

/**
 * `authorize` in the caller's transaction (an idempotent HTTP mutation, a batch), applying the programme's
 * verdict when `askProgram` asked for one first.
 */
export async function authorizeIn(
  tx: Transaction,
  context: ProcessingContext,
  request: AuthorizationRequest,
  asked?: AskedProgram,
): Promise<Authorization> {
  if (asked?.kind === 'decided') return asked.authorization;
  const item: DecideItem = asked === undefined ? { request } : { request, asked };
  return recorded(unwrap((await decideGroup(tx, context, [item]))[0]));
}
