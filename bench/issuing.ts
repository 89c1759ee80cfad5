/**
 * Issuing throughput through the domain functions (no HTTP), 16 callers each:
 *   cardholders created   one transaction each: the personal-data document encrypted, four blind indexes, the
 *                         row, its event and its audit entry
 *   wallet loads          one transaction each: a posted ledger transfer from the programme's funding account (one
 *                         hot row every load locks) to a random wallet, the movement row, its event and audit entry
 *   cards issued          one transaction each: a random PAN, its encryption and blind index, the row, event, audit
 *   card reveals          decrypt the PAN, load the programme's CVK pair, compute CVV2, one audit entry
 * Nothing here fails on a number.
 */
import { updateKycTiers } from '../src/compliance/kyc/tiers.js';
import { revealCard } from '../src/issuing/card-reveal.js';
import { createCardholder } from '../src/issuing/cardholders.js';
import { createCard } from '../src/issuing/cards.js';
import { fundProgram } from '../src/issuing/funding.js';
import { createProgram, type Actor, type IssuingContext } from '../src/issuing/programs.js';
import { createWallet, loadWallet } from '../src/issuing/wallets.js';
import { systemClock } from '../src/platform/clock.js';
import type { Database } from '../src/platform/db/database.js';
import { createIdGenerator } from '../src/platform/ids.js';
import { Keyring } from '../src/vault/keyring.js';
import { benchKek, drive, rate } from './support.js';

const CALLERS = 16;
const WALLETS = 256;
const CARDS_KEPT = 2_000;
const BY: Actor = { actor: { type: 'system', id: 'bench' } };

function person(index: number) {
  return {
    name: `Bench Person ${index}`,
    email: `bench.person.${index}@example.com`,
    phone_number: `+8529${String(index % 10_000_000).padStart(7, '0')}`,
    date_of_birth: '1990-01-01',
    nationality: 'HK',
    address: { line1: `${index} Bench Road`, city: 'Hong Kong', country: 'HK' },
    ip_address: `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`,
    device_id: `bench-device-${index}`,
  };
}

export async function benchIssuing(backend: { name: string; db: Database }, seconds: number): Promise<void> {
  const { db } = backend;
  const clock = systemClock;
  const ids = createIdGenerator(clock);
  let vault: Keyring;
  try {
    vault = await Keyring.open({ db, kek: benchKek(), clock, ids, refreshIntervalMs: 0 });
  } catch (error) {
    console.log(
      `issuing  ${backend.name.padEnd(8)} skipped: this database's data keys were wrapped by another KEK; open every bench keyring with benchKek() (${(error as Error).message})`,
    );
    return;
  }
  try {
    const context: IssuingContext = { db, clock, ids, vault, regions: ['hk'] };
    const program = await db.transaction((tx) =>
      createProgram(
        tx,
        context,
        { name: 'Bench issuing', bin: '400000', currencies: ['HKD'], region: 'hk', mode: 'sandbox' },
        BY,
      ),
    );
    await db.transaction((tx) =>
      fundProgram(tx, context, program.id, { amount: Number.MAX_SAFE_INTEGER, currency: 'HKD' }, BY),
    );
    // Each load still runs its KYC check (the cardholder's lock, the year's loads); the limits are lifted so that a
    // long run's HKD 100 loads into 256 wallets are never refused by the unverified tier's HKD 3,000.
    const unlimited = {
      HKD: {
        max_balance: Number.MAX_SAFE_INTEGER,
        max_loads_per_year: Number.MAX_SAFE_INTEGER,
        max_per_transaction: Number.MAX_SAFE_INTEGER,
      },
    };
    await db.transaction((tx) =>
      updateKycTiers(tx, context, program.id, { unverified: unlimited, verified: unlimited }, BY),
    );

    let created = 0;
    const cardholderIds: string[] = [];
    const creation = await drive(seconds, CALLERS, async () => {
      const index = (created += 1);
      const cardholder = await db.transaction((tx) =>
        createCardholder(tx, context, program.id, person(index), BY),
      );
      if (cardholderIds.length < WALLETS) cardholderIds.push(cardholder.id);
      return 1;
    });
    console.log(
      `issuing  ${backend.name.padEnd(8)} cardholders created: ${rate(creation.operations, creation.ms)}/s`,
    );

    // Wallets for the first cardholders (more if the run was too short to make enough), opened 16 at a time.
    while (cardholderIds.length < WALLETS) {
      const index = (created += 1);
      const cardholder = await db.transaction((tx) =>
        createCardholder(tx, context, program.id, person(index), BY),
      );
      cardholderIds.push(cardholder.id);
    }
    const walletIds: string[] = [];
    for (let start = 0; start < cardholderIds.length; start += CALLERS) {
      const opened = await Promise.all(
        cardholderIds
          .slice(start, start + CALLERS)
          .map((cardholderId) =>
            db.transaction((tx) =>
              createWallet(tx, context, program.id, { cardholder_id: cardholderId, currency: 'HKD' }, BY),
            ),
          ),
      );
      walletIds.push(...opened.map((wallet) => wallet.id));
    }

    const loads = await drive(seconds, CALLERS, async () => {
      const walletId = walletIds[Math.floor(Math.random() * walletIds.length)] ?? '';
      await db.transaction((tx) =>
        loadWallet(tx, context, walletId, program.id, { amount: 100_00, currency: 'HKD' }, BY),
      );
      return 1;
    });
    console.log(`issuing  ${backend.name.padEnd(8)} wallet loads: ${rate(loads.operations, loads.ms)}/s`);

    const cardIds: string[] = [];
    const issued = await drive(seconds, CALLERS, async () => {
      const slot = Math.floor(Math.random() * walletIds.length);
      const card = await db.transaction((tx) =>
        createCard(
          tx,
          context,
          program.id,
          { cardholder_id: cardholderIds[slot] ?? '', account_id: walletIds[slot] ?? '', type: 'multi_use' },
          BY,
        ),
      );
      if (cardIds.length < CARDS_KEPT) cardIds.push(card.id);
      return 1;
    });
    console.log(`issuing  ${backend.name.padEnd(8)} cards issued: ${rate(issued.operations, issued.ms)}/s`);

    const reveals = await drive(seconds, CALLERS, async () => {
      const cardId = cardIds[Math.floor(Math.random() * cardIds.length)] ?? '';
      await revealCard(context, program.id, cardId, BY);
      return 1;
    });
    console.log(
      `issuing  ${backend.name.padEnd(8)} card reveals (decrypt PAN, CVV2 from the CVK, audit entry): ${rate(reveals.operations, reveals.ms)}/s`,
    );
  } finally {
    vault.close();
  }
}
