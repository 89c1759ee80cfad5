/**
 * A realistic card population for the authorization bench (issue 8), seeded with bulk SQL: one API call per card
 * would take hours at a million cards. The programme, its funding, its API key and the FX rates go through the
 * domain functions; cardholders, wallets (with their ledger accounts and a posted load each), wallet movements and
 * cards are written in chunks, each row shaped exactly as createCardholder, createWallet, loadWallet and createCard
 * write it: personal data sealed under the `pii` key and bound to its row, the four blind indexes, PANs from
 * generatePan sealed under the `pan` key with their blind index, expiry from the programme's validity, balances on
 * the ledger accounts equal to what the transfers imply (verifyLedger passes). What the bulk path leaves out: the
 * `*.created` events and audit entries, which the engine never reads.
 *
 * Ids are ULIDs like the generator's, but consecutive after a random head (as the monotonic generator's are within
 * one millisecond), so card N's id is computed rather than kept: a million ids held as strings would weigh on the
 * very process whose memory the bench reports.
 */
import { createApiKey } from '../src/issuing/api-keys.js';
import { cardholderPiiAad } from '../src/issuing/cardholders.js';
import { panAad } from '../src/issuing/cards.js';
import { fundProgram } from '../src/issuing/funding.js';
import { expiryFrom, generatePan } from '../src/issuing/pan.js';
import {
  BLIND_INDEX_DOMAINS,
  blindIndexValues,
  normalizePersonalData,
  serializePersonalData,
  type PersonalDataInput,
} from '../src/issuing/personal-data.js';
import {
  createProgram,
  programAccountId,
  type Actor,
  type IssuingContext,
  type Program,
} from '../src/issuing/programs.js';
import { normalizeSpendingControls, type SpendingControls } from '../src/issuing/spending-controls.js';
import type { Transaction } from '../src/platform/db/database.js';
import { findCurrency } from '../src/platform/money.js';
import { seededRandom } from '../src/platform/seeded-random.js';
import type { EntryMode, Merchant } from '../src/processing/authorizations.js';
import type { AuthorizationRequest } from '../src/processing/authorize.js';
import { createFxRate } from '../src/processing/fx.js';

const BY: Actor = { actor: { type: 'system', id: 'bench' } };
/** Rows per INSERT: large enough that round trips do not count, small enough to keep each statement's arrays modest. */
const CHUNK_CARDS = 10_000;
/** Chunks written at once: the database works on two while this thread draws the next (two cores here). */
const WRITERS_MAX = 2;
/** How often drawing a chunk lets the chunks being written send their next statement. */
const YIELD_EVERY_HOLDERS = 200;
/** As createCard: a PAN whose blind index is taken is drawn again, a few times at most. */
const PAN_ATTEMPTS_MAX = 8;
/** A 6-digit BIN leaves 9 random digits: a million cards collide a few hundred times, which the redraw absorbs. */
const BIN = '450000';
/** What the programme deposits per currency: more than a million wallets' loads, well inside a safe integer. */
const PROGRAM_FUNDING_MINOR = 100_000_000_000_000;
export const CARD_CURRENCIES = ['HKD', 'USD'] as const;

/** Approximate mid rates, quote units per one base unit: the operator's table the engine converts with. */
const RATES_TO: Record<(typeof CARD_CURRENCIES)[number], Record<string, string>> = {
  HKD: { USD: '7.8', CNY: '1.08', JPY: '0.052', GBP: '9.9', SGD: '5.8', EUR: '8.45' },
  USD: { HKD: '0.128', CNY: '0.138', JPY: '0.0067', GBP: '1.27', SGD: '0.74', EUR: '1.08' },
};
/** HKD per one unit of each merchant currency, for drawing amounts that mean the same in every country. */
const HKD_PER_UNIT: Record<string, number> = {
  HKD: 1,
  USD: 7.8,
  CNY: 1.08,
  JPY: 0.052,
  GBP: 9.9,
  SGD: 5.8,
  EUR: 8.45,
};

// ---- Deterministic shape: the same --cards gives the same population, so runs compare ----

function pick<T>(random: () => number, values: readonly T[]): T {
  const value = values[Math.floor(random() * values.length)];
  if (value === undefined) throw new Error('pick from an empty list');
  return value;
}

function weighted<T>(random: () => number, entries: readonly (readonly [T, number])[]): T {
  const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
  let point = random() * total;
  for (const [value, weight] of entries) {
    point -= weight;
    if (point < 0) return value;
  }
  const last = entries[entries.length - 1];
  if (last === undefined) throw new Error('weighted pick from an empty list');
  return last[0];
}

/** A standard normal deviate (Box–Muller): amounts are log-normal, many small purchases and a long tail. */
function normal(random: () => number): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

// ---- Merchants ----

interface Category {
  readonly mcc: string;
  readonly label: string;
  readonly weight: number;
  /** The typical ticket in HKD (major units); each merchant's own median is drawn around it. */
  readonly medianHkd: number;
  readonly online: boolean;
}

const CATEGORIES: readonly Category[] = [
  { mcc: '5411', label: 'Grocery', weight: 22, medianHkd: 120, online: false },
  { mcc: '5812', label: 'Restaurant', weight: 15, medianHkd: 250, online: false },
  { mcc: '5814', label: 'Fast Food', weight: 14, medianHkd: 55, online: false },
  { mcc: '4121', label: 'Taxi', weight: 7, medianHkd: 90, online: false },
  { mcc: '4111', label: 'Transit', weight: 8, medianHkd: 15, online: false },
  { mcc: '5912', label: 'Pharmacy', weight: 5, medianHkd: 150, online: false },
  { mcc: '5311', label: 'Department Store', weight: 4, medianHkd: 600, online: false },
  { mcc: '5541', label: 'Fuel', weight: 3, medianHkd: 450, online: false },
  { mcc: '7011', label: 'Hotel', weight: 2, medianHkd: 1_400, online: false },
  { mcc: '5732', label: 'Electronics', weight: 3, medianHkd: 1_500, online: false },
  { mcc: '5999', label: 'Online Shop', weight: 8, medianHkd: 300, online: true },
  { mcc: '5817', label: 'App Store', weight: 7, medianHkd: 80, online: true },
  { mcc: '4814', label: 'Mobile Top-up', weight: 2, medianHkd: 200, online: true },
];

interface Place {
  readonly country: string;
  readonly currency: string;
  readonly cities: readonly string[];
}

const PLACES: Record<string, Place> = {
  HK: {
    country: 'HK',
    currency: 'HKD',
    cities: ['Hong Kong', 'Kowloon', 'Sha Tin', 'Tsuen Wan', 'Tuen Mun'],
  },
  CN: { country: 'CN', currency: 'CNY', cities: ['Shenzhen', 'Guangzhou', 'Shanghai', 'Beijing'] },
  US: { country: 'US', currency: 'USD', cities: ['New York', 'San Francisco', 'Seattle', 'Los Angeles'] },
  JP: { country: 'JP', currency: 'JPY', cities: ['Tokyo', 'Osaka', 'Kyoto', 'Sapporo'] },
  GB: { country: 'GB', currency: 'GBP', cities: ['London', 'Manchester', 'Edinburgh'] },
  SG: { country: 'SG', currency: 'SGD', cities: ['Singapore'] },
  IE: { country: 'IE', currency: 'EUR', cities: ['Dublin'] },
};
/** Where a Hong Kong cardholder shops in person: mostly at home, some across the border and abroad. */
const STORE_COUNTRIES = [
  ['HK', 78],
  ['CN', 8],
  ['JP', 5],
  ['US', 3],
  ['GB', 3],
  ['SG', 3],
] as const;
/** Online, a larger share charges in USD and EUR (app stores and marketplaces billing from abroad). */
const ONLINE_COUNTRIES = [
  ['HK', 50],
  ['US', 30],
  ['IE', 10],
  ['GB', 5],
  ['SG', 5],
] as const;

export interface MerchantProfile {
  readonly merchant: Merchant;
  readonly currency: string;
  /** Minor units of `currency`: the median of this merchant's tickets. */
  readonly medianMinor: number;
  readonly entryModes: readonly EntryMode[];
}

export const MERCHANTS = 3_000;

/** A pool of merchants across MCCs and countries, each charging in its country's currency. */
export function merchantPool(count = MERCHANTS): MerchantProfile[] {
  const random = seededRandom(0x1a2b3c);
  const merchants: MerchantProfile[] = [];
  for (let index = 0; index < count; index += 1) {
    const category = weighted(
      random,
      CATEGORIES.map((c) => [c, c.weight] as const),
    );
    const place = PLACES[weighted(random, category.online ? ONLINE_COUNTRIES : STORE_COUNTRIES)];
    if (place === undefined) throw new Error('merchant country without a place');
    const exponent = findCurrency(place.currency)?.exponent ?? 2;
    const medianHkd = category.medianHkd * Math.exp(0.4 * normal(random));
    const medianMinor = Math.max(
      1,
      Math.round((medianHkd / (HKD_PER_UNIT[place.currency] ?? 1)) * 10 ** exponent),
    );
    const city = pick(random, place.cities);
    merchants.push({
      merchant: {
        name: `${category.label} ${city} ${String(index).padStart(4, '0')}`,
        mcc: category.mcc,
        country: place.country,
        city,
        acceptor_id: `M${String(index).padStart(9, '0')}`,
        acquirer_id: `4000${String(index % 7)}`,
      },
      currency: place.currency,
      medianMinor,
      entryModes: category.online ? ['ecommerce'] : ['contactless', 'contactless', 'contactless', 'chip'],
    });
  }
  return merchants;
}

// ---- Ids ----

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
/** Ten base-32 digits after a 16-character head: room for 10^15 rows. */
const INDEX_DIGITS = 10;

/** `prefix_` + a real ULID's time and first random characters, then `index` in ten base-32 digits. */
function sequentialIds(head: string): (index: number) => string {
  return (index) => {
    let tail = '';
    let rest = index;
    for (let digit = 0; digit < INDEX_DIGITS; digit += 1) {
      tail = (CROCKFORD[rest % 32] ?? '0') + tail;
      rest = Math.floor(rest / 32);
    }
    return head + tail;
  };
}

function idHead(generated: string): string {
  const underscore = generated.indexOf('_');
  return generated.slice(0, underscore + 1 + 26 - INDEX_DIGITS);
}

// ---- The population ----

export interface Population {
  readonly programId: string;
  /** A programme API key with every scope, for the HTTP simulate endpoint. Never printed. */
  readonly apiKey: string;
  readonly cards: number;
  readonly cardholders: number;
  readonly wallets: number;
  cardId(index: number): string;
}

export interface SeedReport {
  readonly population: Population;
  readonly seconds: number;
}

interface HolderPlan {
  readonly index: number;
  readonly walletCurrencies: readonly string[];
  /** For each card, the index into walletCurrencies of the wallet it draws on. */
  readonly cardWallets: readonly number[];
  readonly controls: SpendingControls;
}

const FIRST_NAMES = [
  'Ka Ming',
  'Wing Yan',
  'Chi Wai',
  'Mei Ling',
  'Siu Fung',
  'Hoi Yee',
  'Tsz Kin',
  'Ying',
  'Man Kit',
  'Pui Shan',
  'David',
  'Grace',
  'Michael',
  'Karen',
  'Jason',
  'Winnie',
  'Kelvin',
  'Cindy',
  'Raymond',
  'Joyce',
  'Maria',
  'Siti',
];
const LAST_NAMES = [
  'Chan',
  'Wong',
  'Lee',
  'Cheung',
  'Lau',
  'Ng',
  'Ho',
  'Leung',
  'Lam',
  'Tsang',
  'Yip',
  'Chow',
  'Kwok',
  'Tam',
  'Fung',
  'Mak',
  'Yeung',
  'Tse',
  'Santos',
  'Smith',
];
const STREETS = [
  'Nathan Road',
  "Queen's Road Central",
  'Hennessy Road',
  'Des Voeux Road',
  'Castle Peak Road',
];
const DISTRICTS = ['Central', 'Mong Kok', 'Causeway Bay', 'Sha Tin', 'Tsuen Wan', 'Kwun Tong', 'Tuen Mun'];
const IP_FIRST_OCTETS = [
  14, 27, 42, 58, 61, 101, 103, 112, 113, 119, 123, 124, 202, 203, 210, 218, 219, 220, 223,
];

function personalData(random: () => number, index: number): PersonalDataInput {
  const first = pick(random, FIRST_NAMES);
  const last = pick(random, LAST_NAMES);
  const year = 1950 + Math.floor(random() * 56);
  const month = 1 + Math.floor(random() * 12);
  const day = 1 + Math.floor(random() * 28);
  const octet = () => Math.floor(random() * 256);
  return {
    name: `${first} ${last}`,
    email: `${first.replace(' ', '').toLowerCase()}.${last.toLowerCase()}.${String(index)}@example.com`,
    phone_number: `+852${pick(random, ['5', '6', '9'])}${String(Math.floor(random() * 10_000_000)).padStart(7, '0')}`,
    date_of_birth: `${String(year)}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`,
    nationality: weighted(random, [
      ['HK', 80],
      ['CN', 10],
      ['GB', 3],
      ['US', 3],
      ['PH', 2],
      ['ID', 2],
    ]),
    address: {
      line1: `${String(1 + Math.floor(random() * 500))} ${pick(random, STREETS)}`,
      line2:
        random() < 0.6
          ? `Flat ${String(1 + Math.floor(random() * 40))}${pick(random, ['A', 'B', 'C', 'D'])}`
          : null,
      city: pick(random, DISTRICTS),
      country: 'HK',
    },
    ip_address: `${String(pick(random, IP_FIRST_OCTETS))}.${String(octet())}.${String(octet())}.${String(1 + Math.floor(random() * 254))}`,
    device_id: `device-${Math.floor(random() * 2 ** 48)
      .toString(16)
      .padStart(12, '0')}`,
  };
}

/** Most cardholders hold one card in HKD; some several, some in USD, a few a wallet in each with a card on both. */
function planHolder(random: () => number, index: number, cardsLeft: number): HolderPlan {
  const primary = random() < 0.88 ? 'HKD' : 'USD';
  const cardCount = Math.min(
    cardsLeft,
    weighted(random, [
      [1, 80],
      [2, 15],
      [3, 5],
    ]),
  );
  const second = cardCount > 1 && random() < 0.3 ? (primary === 'HKD' ? 'USD' : 'HKD') : undefined;
  const walletCurrencies = second === undefined ? [primary] : [primary, second];
  const cardWallets = Array.from({ length: cardCount }, (_, card) =>
    card === 1 && second !== undefined ? 1 : 0,
  );
  // A tenth of cardholders set a daily limit across their cards, as a parent or an employer would.
  const controls =
    random() < 0.1
      ? normalizeSpendingControls({ spending_limits: [{ amount: 5_000_000, interval: 'daily' }] })
      : normalizeSpendingControls(undefined);
  return { index, walletCurrencies, cardWallets, controls };
}

function cardControls(random: () => number): SpendingControls {
  const draw = random();
  // A few cards refuse gambling; a few are for use in Hong Kong only (so some foreign purchases decline).
  if (draw < 0.03) return normalizeSpendingControls({ blocked_categories: ['7995'] });
  if (draw < 0.05) return normalizeSpendingControls({ allowed_merchant_countries: ['HK'] });
  return normalizeSpendingControls(undefined);
}

/** A wallet's load: log-uniform from HKD 20,000 to 200,000 (or its USD worth), enough for a long run of holds. */
function loadAmount(random: () => number, currency: string): number {
  const hkd = 20_000 * 10 ** random();
  return Math.round((hkd / (HKD_PER_UNIT[currency] ?? 1)) * 100);
}

interface Chunk {
  readonly holders: {
    ids: string[];
    pii: string[];
    email: (string | null)[];
    phone: (string | null)[];
    device: (string | null)[];
    ip: (string | null)[];
    controls: string[];
  };
  readonly wallets: {
    ids: string[];
    holders: string[];
    currencies: string[];
    loads: string[];
    funding: string[];
    amounts: number[];
  };
  readonly cards: {
    ids: string[];
    holders: string[];
    wallets: string[];
    currencies: string[];
    controls: string[];
    /** The first draw, sealed while the previous chunk is written; a PAN already taken is drawn again then. */
    pans: { encrypted: string; index: string; last4: string }[];
  };
}

interface Seeder {
  readonly context: IssuingContext;
  readonly program: Program;
  readonly now: Date;
  readonly holderId: (index: number) => string;
  readonly walletId: (index: number) => string;
  readonly loadId: (index: number) => string;
  readonly cardId: (index: number) => string;
}

function hex(buffer: Buffer | null): string | null {
  return buffer === null ? null : buffer.toString('hex');
}

/** Seals a cardholder's personal data and computes its blind indexes, as createCardholder does. */
function sealHolder(seeder: Seeder, id: string, input: PersonalDataInput) {
  const { vault } = seeder.context;
  const data = normalizePersonalData(input, seeder.now);
  const values = blindIndexValues(data);
  const index = (field: keyof typeof BLIND_INDEX_DOMAINS) => {
    const value = values[field];
    return value === null ? null : vault.blindIndex(value, BLIND_INDEX_DOMAINS[field]);
  };
  return {
    pii: vault.encrypt('pii', serializePersonalData(data), cardholderPiiAad(id)).toString('hex'),
    email: hex(index('email')),
    phone: hex(index('phone_number')),
    device: hex(index('device_id')),
    ip: hex(index('ip_address')),
  };
}

/** A fresh PAN for card `id`, sealed and indexed as createCard's `issue` does; the clear PAN goes no further. */
function sealPan(seeder: Seeder, id: string): { encrypted: string; index: string; last4: string } {
  const pan = generatePan(seeder.program.bin, seeder.program.pan_length);
  const bytes = Buffer.from(pan, 'ascii');
  try {
    return {
      encrypted: seeder.context.vault.encrypt('pan', bytes, panAad(id)).toString('hex'),
      index: seeder.context.vault.blindIndex(pan, 'pan').toString('hex'),
      last4: pan.slice(-4),
    };
  } finally {
    bytes.fill(0);
  }
}

async function insertChunk(tx: Transaction, seeder: Seeder, chunk: Chunk): Promise<void> {
  const { program, now } = seeder;
  // Verified, as after a KYC verification (which, like the events, the bulk path leaves out): each wallet's load
  // (HKD 20,000 to 200,000, or as much in USD) is within the verified tier's HKD 200,000 and beyond the unverified
  // tier's HKD 3,000, so this is a population the KYC limits allow, and its purchases meet the verified tier's.
  await tx.query(
    `INSERT INTO cardholders (id, program_id, status, kyc_status, pii_encrypted, email_index, phone_index,
       device_index, ip_index, spending_controls, metadata, created_at, updated_at)
     SELECT t.id, $1, 'active', 'verified', decode(t.pii, 'hex'), decode(t.email, 'hex'), decode(t.phone, 'hex'),
       decode(t.device, 'hex'), decode(t.ip, 'hex'), t.controls::jsonb, '{}'::jsonb, $2, $2
     FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
       AS t(id, pii, email, phone, device, ip, controls)`,
    [
      program.id,
      now,
      chunk.holders.ids,
      chunk.holders.pii,
      chunk.holders.email,
      chunk.holders.phone,
      chunk.holders.device,
      chunk.holders.ip,
      chunk.holders.controls,
    ],
  );
  // The wallet's ledger account carries its id (createWallet) and, at once, the balance its load transfer implies.
  await tx.query(
    `INSERT INTO ledger_accounts (id, program_id, currency, kind, owner_id, debits_must_not_exceed_credits,
       credits_posted, created_at)
     SELECT t.id, $1, t.currency, 'wallet', t.holder, true, t.amount, $2
     FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[]) AS t(id, holder, currency, amount)`,
    [
      program.id,
      now,
      chunk.wallets.ids,
      chunk.wallets.holders,
      chunk.wallets.currencies,
      chunk.wallets.amounts,
    ],
  );
  await tx.query(
    `INSERT INTO wallets (id, program_id, cardholder_id, currency, ledger_account_id, status, metadata, created_at,
       updated_at)
     SELECT t.id, $1, t.holder, t.currency, t.id, 'active', '{}'::jsonb, $2, $2
     FROM unnest($3::text[], $4::text[], $5::text[]) AS t(id, holder, currency)`,
    [program.id, now, chunk.wallets.ids, chunk.wallets.holders, chunk.wallets.currencies],
  );
  await tx.query(
    `INSERT INTO ledger_transfers (id, program_id, kind, debit_account_id, credit_account_id, amount, currency, code,
       reference, created_at)
     SELECT t.id, $1, 'posted', t.funding, t.wallet, t.amount, t.currency, 'load', t.wallet, $2
     FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[]) AS t(id, funding, wallet, amount, currency)`,
    [
      program.id,
      now,
      chunk.wallets.loads,
      chunk.wallets.funding,
      chunk.wallets.ids,
      chunk.wallets.amounts,
      chunk.wallets.currencies,
    ],
  );
  await tx.query(
    `INSERT INTO wallet_movements (id, program_id, wallet_id, cardholder_id, kind, amount, currency, description,
       metadata, created_at)
     SELECT t.id, $1, t.wallet, t.holder, 'load', t.amount, t.currency, NULL, '{}'::jsonb, $2
     FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[]) AS t(id, wallet, holder, amount, currency)`,
    [
      program.id,
      now,
      chunk.wallets.loads,
      chunk.wallets.ids,
      chunk.wallets.holders,
      chunk.wallets.amounts,
      chunk.wallets.currencies,
    ],
  );
  const expiry = expiryFrom(now, program.card_validity_months);
  let pending = chunk.cards.ids.map((_, position) => position);
  for (let attempt = 1; pending.length > 0; attempt += 1) {
    if (attempt > PAN_ATTEMPTS_MAX)
      throw new Error(`could not draw unused PANs for ${String(pending.length)} cards`);
    const sealed = pending.map((position) =>
      attempt === 1
        ? (chunk.cards.pans[position] ?? sealPan(seeder, chunk.cards.ids[position] ?? ''))
        : sealPan(seeder, chunk.cards.ids[position] ?? ''),
    );
    const inserted = await tx.query<{ id: string }>(
      `INSERT INTO cards (id, program_id, cardholder_id, account_id, type, status, currency, pan_encrypted, pan_index,
         last4, exp_month, exp_year, spending_controls, memo, metadata, replaces_card_id, created_at, updated_at)
       SELECT t.id, $1, t.holder, t.wallet, 'multi_use', 'active', t.currency, decode(t.pan, 'hex'),
         decode(t.pan_index, 'hex'), t.last4, $2, $3, t.controls::jsonb, NULL, '{}'::jsonb, NULL, $4, $4
       FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
         AS t(id, holder, wallet, currency, pan, pan_index, last4, controls)
       ON CONFLICT (pan_index) DO NOTHING
       RETURNING id`,
      [
        program.id,
        expiry.month,
        expiry.year,
        now,
        pending.map((position) => chunk.cards.ids[position] ?? ''),
        pending.map((position) => chunk.cards.holders[position] ?? ''),
        pending.map((position) => chunk.cards.wallets[position] ?? ''),
        pending.map((position) => chunk.cards.currencies[position] ?? ''),
        sealed.map((card) => card.encrypted),
        sealed.map((card) => card.index),
        sealed.map((card) => card.last4),
        pending.map((position) => chunk.cards.controls[position] ?? ''),
      ],
    );
    const done = new Set(inserted.rows.map((row) => row.id));
    pending = pending.filter((position) => !done.has(chunk.cards.ids[position] ?? ''));
  }
  // The funding accounts paid every load out: their debits grow by the chunk's loads. Last, one account at a time
  // in id order, so two chunks written at once queue on these hot rows only at their end and never deadlock.
  const totals = new Map<string, number>();
  chunk.wallets.funding.forEach((funding, position) => {
    totals.set(funding, (totals.get(funding) ?? 0) + (chunk.wallets.amounts[position] ?? 0));
  });
  for (const [funding, total] of [...totals.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    await tx.query('UPDATE ledger_accounts SET debits_posted = debits_posted + $2 WHERE id = $1', [
      funding,
      total,
    ]);
  }
}

/** The domain-created parts: the programme (CVK pair, ledger accounts), its funding, its API key, the FX rates. */
async function createProgramme(context: IssuingContext, cards: number) {
  return context.db.transaction(async (tx) => {
    const program = await createProgram(
      tx,
      context,
      {
        name: `Bench ${cards.toLocaleString('en-US')} cards`,
        bin: BIN,
        currencies: [...CARD_CURRENCIES],
        region: 'hk',
        mode: 'sandbox',
        fx_markup_bps: 150,
      },
      BY,
    );
    for (const currency of CARD_CURRENCIES) {
      await fundProgram(tx, context, program.id, { amount: PROGRAM_FUNDING_MINOR, currency }, BY);
    }
    const key = await createApiKey(tx, context, { programId: program.id, name: 'bench', scopes: ['*'] }, BY);
    for (const quote of CARD_CURRENCIES) {
      for (const [base, rate] of Object.entries(RATES_TO[quote])) {
        await createFxRate(tx, context, { base, quote, rate, source: 'bench' }, BY);
      }
    }
    return { program, secret: key.secret };
  });
}

/**
 * Seeds `cards` cards in a new programme of their own and returns the population. `progress` hears about every
 * tenth of the way, for the long seeds.
 */
export async function seedPopulation(
  context: IssuingContext,
  cards: number,
  progress: (line: string) => void = () => undefined,
): Promise<SeedReport> {
  const started = performance.now();
  const { db, ids } = context;
  const { program, secret } = await createProgramme(context, cards);
  const seeder: Seeder = {
    context,
    program,
    now: context.clock.now(),
    holderId: sequentialIds(idHead(ids('chd'))),
    walletId: sequentialIds(idHead(ids('acct'))),
    loadId: sequentialIds(idHead(ids('load'))),
    cardId: sequentialIds(idHead(ids('card'))),
  };
  const random = seededRandom(cards);
  let cardIndex = 0;
  let holderIndex = 0;
  let walletIndex = 0;
  let reported = 0;
  const writing = new Set<Promise<void>>();
  let failure: Error | undefined;
  while (cardIndex < cards) {
    const chunk: Chunk = {
      holders: { ids: [], pii: [], email: [], phone: [], device: [], ip: [], controls: [] },
      wallets: { ids: [], holders: [], currencies: [], loads: [], funding: [], amounts: [] },
      cards: { ids: [], holders: [], wallets: [], currencies: [], controls: [], pans: [] },
    };
    while (cardIndex < cards && chunk.cards.ids.length < CHUNK_CARDS) {
      // Drawing and sealing is CPU here; the chunks being written need this thread too, between their statements.
      if (holderIndex % YIELD_EVERY_HOLDERS === 0) await new Promise((resolve) => setImmediate(resolve));
      const plan = planHolder(random, holderIndex, cards - cardIndex);
      const holderId = seeder.holderId(holderIndex);
      holderIndex += 1;
      const sealed = sealHolder(seeder, holderId, personalData(random, plan.index));
      chunk.holders.ids.push(holderId);
      chunk.holders.pii.push(sealed.pii);
      chunk.holders.email.push(sealed.email);
      chunk.holders.phone.push(sealed.phone);
      chunk.holders.device.push(sealed.device);
      chunk.holders.ip.push(sealed.ip);
      chunk.holders.controls.push(JSON.stringify(plan.controls));
      const walletIds = plan.walletCurrencies.map((currency) => {
        const walletId = seeder.walletId(walletIndex);
        chunk.wallets.ids.push(walletId);
        chunk.wallets.holders.push(holderId);
        chunk.wallets.currencies.push(currency);
        chunk.wallets.loads.push(seeder.loadId(walletIndex));
        chunk.wallets.funding.push(programAccountId(program.id, 'funding', currency));
        chunk.wallets.amounts.push(loadAmount(random, currency));
        walletIndex += 1;
        return walletId;
      });
      for (const wallet of plan.cardWallets) {
        const cardId = seeder.cardId(cardIndex);
        chunk.cards.ids.push(cardId);
        chunk.cards.holders.push(holderId);
        chunk.cards.wallets.push(walletIds[wallet] ?? '');
        chunk.cards.currencies.push(plan.walletCurrencies[wallet] ?? '');
        chunk.cards.controls.push(JSON.stringify(cardControls(random)));
        chunk.cards.pans.push(sealPan(seeder, cardId));
        cardIndex += 1;
      }
    }
    // A bounded number of chunks written at once: the database works on them while the next is drawn. A failure
    // is kept, not left to reject unobserved while the next chunk is drawn, and ends the seeding at the next check.
    while (writing.size >= WRITERS_MAX) await Promise.race(writing);
    if (failure !== undefined) throw failure;
    const written: Promise<void> = db
      .transaction((tx) => insertChunk(tx, seeder, chunk))
      .catch((error: unknown) => {
        failure ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => writing.delete(written));
    writing.add(written);
    if (cards >= 100_000 && cardIndex >= reported + cards / 10) {
      reported = cardIndex;
      progress(
        `${cardIndex.toLocaleString('en-US')} of ${cards.toLocaleString('en-US')} cards after ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
    }
  }
  await Promise.all(writing);
  if (failure !== undefined) throw failure;
  // What a live database would have: statistics for the planner and a visibility map. A checkpoint now keeps the
  // bulk load's WAL from being flushed in the middle of a measurement (superuser or pg_checkpoint only).
  await db.exec(
    'VACUUM (ANALYZE) cardholders, wallets, ledger_accounts, ledger_transfers, wallet_movements, cards',
  );
  if (db.backend === 'postgres') await db.exec('CHECKPOINT').catch(() => undefined);
  const cardId = seeder.cardId;
  return {
    population: {
      programId: program.id,
      apiKey: secret,
      cards,
      cardholders: holderIndex,
      wallets: walletIndex,
      cardId,
    },
    seconds: (performance.now() - started) / 1000,
  };
}

/** Minor units around the merchant's median: most tickets near it, a few several times larger. */
function ticket(profile: MerchantProfile): number {
  const amount = Math.round(profile.medianMinor * Math.exp(0.7 * normal(Math.random)));
  return Math.min(Math.max(1, amount), profile.medianMinor * 50);
}

/** One purchase: a random card of the population at a random merchant, in the merchant's currency. */
export function randomPurchase(
  population: Population,
  merchants: readonly MerchantProfile[],
): AuthorizationRequest & { readonly card: { readonly id: string } } {
  const profile = pick(Math.random, merchants);
  return {
    programId: population.programId,
    card: { id: population.cardId(Math.floor(Math.random() * population.cards)) },
    amount: ticket(profile),
    currency: profile.currency,
    merchant: profile.merchant,
    entryMode: pick(Math.random, profile.entryModes),
    partialAllowed: profile.merchant.mcc === '5541',
  };
}

/** The same purchase as the simulate endpoint's JSON body. */
export function purchaseBody(population: Population, merchants: readonly MerchantProfile[]): string {
  const purchase = randomPurchase(population, merchants);
  const { merchant } = purchase;
  return JSON.stringify({
    card_id: purchase.card.id,
    amount: purchase.amount,
    currency: purchase.currency,
    merchant: {
      name: merchant.name,
      mcc: merchant.mcc,
      ...(merchant.country === null ? {} : { country: merchant.country }),
      ...(merchant.city === null ? {} : { city: merchant.city }),
      ...(merchant.acceptor_id === null ? {} : { acceptor_id: merchant.acceptor_id }),
      ...(merchant.acquirer_id === null ? {} : { acquirer_id: merchant.acquirer_id }),
    },
    entry_mode: purchase.entryMode,
    partial_allowed: purchase.partialAllowed,
  });
}
