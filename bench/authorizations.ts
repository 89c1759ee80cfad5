/**
 * Authorizations decided per second, with latency percentiles, through (a) the engine in-process and (b) the HTTP
 * simulate endpoint over loopback. A programme with CARDS cards, each on its own funded wallet; every request
 * authorizes a small amount on a random card at a random merchant, so holds spread over many wallets (the
 * programme's settlement account is the one hot row every hold credits). Nothing here fails on a number.
 */
import { buildApi } from '../src/edges/http/api.js';
import { apiKeyAuthenticator } from '../src/issuing/authenticator.js';
import { createApiKey } from '../src/issuing/api-keys.js';
import { createCard } from '../src/issuing/cards.js';
import { createCardholder } from '../src/issuing/cardholders.js';
import { fundProgram } from '../src/issuing/funding.js';
import { createProgram, type Actor, type IssuingContext } from '../src/issuing/programs.js';
import { createWallet, loadWallet } from '../src/issuing/wallets.js';
import { systemClock } from '../src/platform/clock.js';
import type { Database } from '../src/platform/db/database.js';
import { createIdGenerator } from '../src/platform/ids.js';
import { createLogger } from '../src/platform/logger.js';
import { createMetrics } from '../src/platform/metrics.js';
import { authorize, type ProcessingContext } from '../src/processing/authorize.js';
import { convertForCard } from '../src/processing/fx.js';
import { Keyring } from '../src/vault/keyring.js';
import { benchKek, rate } from './support.js';

const CARDS = 200;
const CALLERS = 16;
const BY: Actor = { actor: { type: 'system', id: 'bench' } };
const MCCS = ['5411', '5812', '5999', '4121', '5732', '7011'];

function percentile(sorted: readonly number[], fraction: number): string {
  if (sorted.length === 0) return '-';
  const value = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
  return value.toFixed(1);
}

/** Runs `step` from `concurrency` callers for `seconds`, timing each call. */
async function timed(seconds: number, concurrency: number, step: () => Promise<void>) {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const begun = performance.now();
        await step();
        latencies.push(performance.now() - begun);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, ms: performance.now() - started, latencies };
}

export async function benchAuthorizations(
  backend: { name: string; db: Database },
  seconds: number,
): Promise<void> {
  const { db } = backend;
  const clock = systemClock;
  const ids = createIdGenerator(clock);
  const vault = await Keyring.open({ db, kek: benchKek(), clock, ids, refreshIntervalMs: 0 });
  try {
    const issuing: IssuingContext = { db, clock, ids, vault, regions: ['hk'] };
    const processing: ProcessingContext = { ...issuing, convert: convertForCard };
    const { program, secret } = await db.transaction(async (tx) => {
      const created = await createProgram(
        tx,
        issuing,
        { name: 'Bench authorizations', bin: '45000000', currencies: ['HKD'], region: 'hk', mode: 'sandbox' },
        BY,
      );
      await fundProgram(tx, issuing, created.id, { amount: Number.MAX_SAFE_INTEGER, currency: 'HKD' }, BY);
      const key = await createApiKey(tx, issuing, { programId: created.id, scopes: ['*'] }, BY);
      return { program: created, secret: key.secret };
    });
    const cardIds: string[] = [];
    for (let index = 0; index < CARDS; index += 1) {
      cardIds.push(
        await db.transaction(async (tx) => {
          const holder = await createCardholder(
            tx,
            issuing,
            program.id,
            { name: `Bench Holder ${index}` },
            BY,
          );
          const wallet = await createWallet(
            tx,
            issuing,
            program.id,
            { cardholder_id: holder.id, currency: 'HKD' },
            BY,
          );
          await loadWallet(
            tx,
            issuing,
            wallet.id,
            program.id,
            { amount: 1_000_000_000, currency: 'HKD' },
            BY,
          );
          const card = await createCard(
            tx,
            issuing,
            program.id,
            { cardholder_id: holder.id, account_id: wallet.id, type: 'multi_use' },
            BY,
          );
          return card.id;
        }),
      );
    }
    const pick = <T>(values: readonly T[]): T => values[Math.floor(Math.random() * values.length)] as T;
    const merchant = () => ({
      name: 'Bench Merchant',
      mcc: pick(MCCS),
      country: 'HK',
      city: 'Hong Kong',
      acceptor_id: `M${Math.floor(Math.random() * 1000)}`,
      acquirer_id: '400000',
    });

    const engine = await timed(seconds, CALLERS, async () => {
      await authorize(processing, {
        programId: program.id,
        card: { id: pick(cardIds) },
        amount: 100 + Math.floor(Math.random() * 5_000),
        currency: 'HKD',
        merchant: merchant(),
        entryMode: 'ecommerce',
        partialAllowed: false,
      });
    });
    console.log(
      `auth     ${backend.name.padEnd(8)} engine in-process, ${CALLERS} callers: ${rate(engine.count, engine.ms)}/s, latency p50 ${percentile(engine.latencies, 0.5)} ms, p99 ${percentile(engine.latencies, 0.99)} ms`,
    );

    const app = await buildApi(
      {
        db,
        clock,
        ids,
        logger: createLogger({ level: 'warn' }),
        metrics: createMetrics(),
        authenticator: apiKeyAuthenticator(db, undefined),
      },
      issuing,
    );
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      let failed = 0;
      const http = await timed(seconds, 32, async () => {
        const response = await fetch(`${address}/v1/simulate/authorizations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            card_id: pick(cardIds),
            amount: 100 + Math.floor(Math.random() * 5_000),
            currency: 'HKD',
            merchant: merchant(),
          }),
        });
        if (response.status !== 201) failed += 1;
        await response.arrayBuffer();
      });
      console.log(
        `auth     ${backend.name.padEnd(8)} POST /v1/simulate/authorizations, 32 connections: ${rate(http.count, http.ms)}/s, latency p50 ${percentile(http.latencies, 0.5)} ms, p99 ${percentile(http.latencies, 0.99)} ms${failed > 0 ? `, ${failed} failed` : ''}`,
      );
    } finally {
      await app.close();
    }
  } finally {
    vault.close();
  }
}
