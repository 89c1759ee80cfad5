import { isRecord } from '../../platform/records.js';
import type { LantauEvent } from '../../records/outbox.js';
import type { Activity } from './activity.js';

/**
 * The events monitoring reads, and how each becomes activity. Events are the monitor's only input (DESIGN.md: a
 * consumer of events), so it depends on their published shapes, not on the tables behind them. An event of
 * another type, or one missing what monitoring needs, is no activity: monitoring must never stop the outbox.
 */

/** What an event says about a cardholder besides money: their programme and KYC status. */
export interface CardholderFact {
  readonly cardholderId: string;
  readonly programId: string;
  readonly kycStatus: string;
  /**
   * When the cardholder was created or changed, for the events that may change the device or IP address they gave
   * (`cardholder.created`, `cardholder.updated`); null for the others.
   */
  readonly at: number | null;
}

/** An activity as read from its event: before the monitor adds what it counts itself, with the merchant named. */
export type ReadActivity = Omit<Activity, 'balanceAfter' | 'authorizedAmount' | 'converted'> & {
  readonly authorizationId: string | null;
  /** What the wallet itself paid or got (a clearing's `wallet_amount`: less than `amount` after a shortfall). */
  readonly walletAmount: number;
  readonly merchantName: string | null;
  readonly merchantMcc: string | null;
};

export type EventReading =
  | { readonly kind: 'activity'; readonly activity: ReadActivity }
  | { readonly kind: 'cardholder'; readonly fact: CardholderFact }
  | { readonly kind: 'none' };

const NONE: EventReading = { kind: 'none' };

function text(object: Record<string, unknown>, field: string): string | null {
  const value = object[field];
  return typeof value === 'string' && value !== '' ? value : null;
}

function whole(object: Record<string, unknown>, field: string): number | null {
  const value = object[field];
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function timeOf(object: Record<string, unknown>): number | null {
  const created = text(object, 'created');
  if (created === null) return null;
  const at = Date.parse(created);
  return Number.isFinite(at) ? at : null;
}

function merchantOf(object: Record<string, unknown>): {
  merchantCountry: string | null;
  merchantName: string | null;
  merchantMcc: string | null;
} {
  const merchant = object.merchant;
  if (!isRecord(merchant)) return { merchantCountry: null, merchantName: null, merchantMcc: null };
  const { country, name, mcc } = merchant;
  return {
    merchantCountry: typeof country === 'string' && /^[A-Z]{2}$/.test(country) ? country : null,
    merchantName: typeof name === 'string' && name !== '' ? name.slice(0, 200) : null,
    merchantMcc: typeof mcc === 'string' && /^\d{4}$/.test(mcc) ? mcc : null,
  };
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

const TRANSACTION_KINDS = { capture: 'capture', force_post: 'force_post', refund: 'refund' } as const;

export function readEvent(event: LantauEvent): EventReading {
  const object = event.data.object;
  if (!isRecord(object) || event.program_id === null) return NONE;
  const programId = event.program_id;
  const cardholderId = text(object, 'cardholder_id');
  const id = text(object, 'id');
  const at = timeOf(object);
  const base = {
    programId,
    cardholderId: cardholderId ?? '',
    id: id ?? '',
    at: at ?? 0,
    cardId: null,
    walletId: null,
    approved: null,
    merchantCountry: null,
    flags: [],
    deviceKey: null,
    deviceKind: null,
    authorizationId: null,
    merchantName: null,
    merchantMcc: null,
    walletAmount: 0,
  };
  switch (event.type) {
    case 'cardholder.created':
    case 'cardholder.updated':
    case 'cardholder.kyc_updated': {
      const kycStatus = text(object, 'kyc_status');
      if (id === null || kycStatus === null) return NONE;
      const changed =
        event.type === 'cardholder.created'
          ? at
          : event.type === 'cardholder.updated'
            ? Date.parse(text(object, 'updated') ?? '')
            : null;
      return {
        kind: 'cardholder',
        fact: {
          cardholderId: id,
          programId,
          kycStatus,
          at: changed !== null && Number.isFinite(changed) ? changed : null,
        },
      };
    }
    case 'account.loaded':
    case 'account.unloaded':
    case 'account.load_declined': {
      const amount = whole(object, 'amount');
      const currency = text(object, 'currency');
      if (cardholderId === null || id === null || at === null || amount === null || currency === null)
        return NONE;
      // A refused load moved nothing: it is watched (tier-limit probing), but the wallet saw none of it.
      const declined = event.type === 'account.load_declined';
      return {
        kind: 'activity',
        activity: {
          ...base,
          kind: declined ? 'load_declined' : event.type === 'account.loaded' ? 'load' : 'unload',
          amount,
          walletAmount: declined ? 0 : amount,
          currency,
          walletId: text(object, 'account_id'),
        },
      };
    }
    // An update carries an increment's new approved total (a hotel's stay extended): read again, the larger amount
    // kept, so money added by increments is not missed.
    case 'authorization.created':
    case 'authorization.updated': {
      const amount = whole(object, 'requested_amount');
      const currency = text(object, 'currency');
      const approved = object.approved;
      if (cardholderId === null || id === null || at === null || amount === null || currency === null)
        return NONE;
      if (typeof approved !== 'boolean') return NONE;
      return {
        kind: 'activity',
        activity: {
          ...base,
          kind: 'authorization',
          amount: approved ? (whole(object, 'approved_amount') ?? amount) : amount,
          walletAmount: 0,
          currency,
          approved,
          cardId: text(object, 'card_id'),
          walletId: text(object, 'account_id'),
          ...merchantOf(object),
        },
      };
    }
    case 'transaction.created': {
      const type = text(object, 'type');
      const kind =
        type !== null && Object.hasOwn(TRANSACTION_KINDS, type)
          ? TRANSACTION_KINDS[type as keyof typeof TRANSACTION_KINDS]
          : null;
      const amount = whole(object, 'amount');
      const currency = text(object, 'currency');
      if (kind === null || cardholderId === null || id === null || at === null) return NONE;
      if (amount === null || currency === null) return NONE;
      return {
        kind: 'activity',
        activity: {
          ...base,
          kind,
          amount,
          walletAmount: whole(object, 'wallet_amount') ?? amount,
          currency,
          cardId: text(object, 'card_id'),
          walletId: text(object, 'account_id'),
          ...merchantOf(object),
          flags: stringList(object.flags),
          authorizationId: text(object, 'authorization_id'),
        },
      };
    }
    case 'card.created':
    case 'card.updated': {
      if (cardholderId === null || id === null) return NONE;
      if (event.type === 'card.updated' && object.status !== 'closed') return NONE;
      const when = event.type === 'card.created' ? at : Date.parse(text(object, 'updated') ?? '');
      if (when === null || !Number.isFinite(when)) return NONE;
      return {
        kind: 'activity',
        activity: {
          ...base,
          kind: event.type === 'card.created' ? 'card_created' : 'card_closed',
          at: when,
          amount: 0,
          currency: text(object, 'currency') ?? '',
          cardId: id,
          walletId: text(object, 'account_id'),
        },
      };
    }
    default:
      return NONE;
  }
}
