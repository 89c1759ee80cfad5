/**
 * Authorizations decided per second, with latency percentiles, through (a) the engine in-process and (b) the HTTP
 * simulate endpoint over loopback. A programme with CARDS cards, each on its own funded wallet; every request
 * authorizes a small amount on a random card at a random merchant, so holds spread over many wallets (the
 * programme's settlement account is the one hot row every hold credits). Then captures of what was approved, and the
 * HTTP figure again with the programme's real-time endpoint deciding (a local server that approves at once).
 * Nothing here fails on a number.
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
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { putAuthorizationEndpoint } from '../src/delivery/authorization-endpoint.js';
import { captureAuthorizationIn } from '../src/processing/clearing.js';
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

    const approved: string[] = [];
    const engine = await timed(seconds, CALLERS, async () => {
      const decided = await authorize(processing, {
        programId: program.id,
        card: { id: pick(cardIds) },
        amount: 100 + Math.floor(Math.random() * 5_000),
        currency: 'HKD',
        merchant: merchant(),
        entryMode: 'ecommerce',
        partialAllowed: false,
      });
      if (decided.status === 'pending') approved.push(decided.id);
    });
    console.log(
      `auth     ${backend.name.padEnd(8)} engine in-process, ${CALLERS} callers: ${rate(engine.count, engine.ms)}/s, latency p50 ${percentile(engine.latencies, 0.5)} ms, p99 ${percentile(engine.latencies, 0.99)} ms`,
    );

    // Clearing what was just approved, each once: a capture voids the hold and posts in one linked chain.
    const toCapture = [...approved];
    const captureLatencies: number[] = [];
    const capturesStarted = performance.now();
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        for (let id = toCapture.pop(); id !== undefined; id = toCapture.pop()) {
          const begun = performance.now();
          const authorizationId = id;
          await db.transaction((tx) =>
            captureAuthorizationIn(tx, processing, program.id, authorizationId, {
              amount: 50,
              currency: 'HKD',
              source: 'api',
            }),
          );
          captureLatencies.push(performance.now() - begun);
        }
      }),
    );
    captureLatencies.sort((a, b) => a - b);
    console.log(
      `clear    ${backend.name.padEnd(8)} captures in-process, ${CALLERS} callers: ${rate(captureLatencies.length, performance.now() - capturesStarted)}/s, latency p50 ${percentile(captureLatencies, 0.5)} ms, p99 ${percentile(captureLatencies, 0.99)} ms`,
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

      // The same with the programme deciding in real time: a local endpoint that approves at once, so the figure
      // is Lantau's own cost of asking (the preview, the signed request, the second decision).
      const endpoint = createServer((request, response) => {
        request.resume();
        request.on('end', () =>
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"approved":true}'),
        );
      });
      await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
      try {
        const port = (endpoint.address() as AddressInfo).port;
        await db.transaction((tx) =>
          putAuthorizationEndpoint(
            tx,
            issuing,
            { id: program.id, mode: 'sandbox' },
            { url: `http://127.0.0.1:${String(port)}/decide`, timeoutMs: 2_000, standIn: 'decline' },
            BY,
          ),
        );
        let asked = 0;
        const withEndpoint = await timed(seconds, 32, async () => {
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
          const body = (await response.json()) as { program_decision?: { outcome?: string } | null };
          if (body.program_decision?.outcome === 'approved') asked += 1;
        });
        console.log(
          `auth     ${backend.name.padEnd(8)} POST /v1/simulate/authorizations with a real-time endpoint, 32 connections: ${rate(withEndpoint.count, withEndpoint.ms)}/s, latency p50 ${percentile(withEndpoint.latencies, 0.5)} ms, p99 ${percentile(withEndpoint.latencies, 0.99)} ms (${String(asked)} decided by the endpoint)`,
        );
      } finally {
        await new Promise((resolve) => endpoint.close(resolve));
      }
    } finally {
      await app.close();
    }
  } finally {
    vault.close();
  }
}
