/**
 * `npm run bench -- risk`: what risk adds to one authorization's decision, in this process, measured on the code the
 * decision runs (processing/risk-in-decision.ts): the cardholder's stored state decoded, every feature computed,
 * the model scored, ten rules and the protections evaluated, the state recorded and encoded for its write, and the
 * shared counters counting it. A generated population (the model's training generator: ordinary cardholders and
 * every fraud pattern) is replayed in time order; the first week only fills the states, the second is measured.
 * The database's share (the state's row, read with the cardholder's and written with the group's other rows, and
 * the larger authorization row) is in the authorizations bench's figures, which include risk.
 */
import { createHash } from 'node:crypto';
import type { Database, Transaction } from '../src/platform/db/database.js';
import { GroupRisk, riskMemoryFor, riskModel, type RiskInput } from '../src/processing/risk-in-decision.js';
import { DEFAULT_PROTECTIONS } from '../src/risk/protections.js';
import { evaluationOrder, parseRuleDefinition, type RuleVersion } from '../src/risk/rules.js';
import { generateAuthorizations } from '../src/risk/training/generator.js';

const PROGRAM = 'prog_bench';
const DAY_MS = 86_400_000;

/** Rules a programme might run: a mix of fields, operators and actions, none matching most authorizations. */
const RULES: readonly unknown[] = [
  { name: 'High score', action: 'decline', conditions: [{ field: 'risk_score', operator: '>=', value: 80 }] },
  {
    name: 'Gambling',
    action: 'decline',
    conditions: [{ field: 'merchant.mcc', operator: 'is_one_of', value: ['7995', '7800', '7801', '7802'] }],
  },
  {
    name: 'Large abroad',
    action: 'review',
    conditions: [
      { field: 'foreign_merchant', operator: '=', value: true },
      { field: 'amount', operator: '>', value: 500_000 },
    ],
  },
  {
    name: 'Travel',
    action: 'decline',
    conditions: [{ field: 'impossible_travel', operator: '=', value: true }],
  },
  {
    name: 'Busy card',
    action: 'review',
    conditions: [{ field: 'card_count_24h', operator: '>', value: 30 }],
  },
  {
    name: 'New merchant, high risk',
    action: 'decline',
    mode: 'shadow',
    conditions: [
      { field: 'first_time_merchant', operator: '=', value: true },
      { field: 'mcc_risk_class', operator: '=', value: 'high' },
      { field: 'amount_ratio', operator: '>', value: 5 },
    ],
  },
  {
    name: 'Shared device',
    action: 'review',
    conditions: [{ field: 'device_count_1h', operator: '>=', value: 20 }],
  },
  {
    name: 'Night keyed',
    action: 'decline',
    conditions: [
      { field: 'entry_mode', operator: '=', value: 'keyed' },
      { field: 'local_hour', operator: '<', value: 5 },
    ],
  },
  {
    name: 'Trusted transit',
    action: 'allow',
    priority: -1,
    conditions: [{ field: 'merchant.mcc', operator: '=', value: '4111' }],
  },
  {
    name: 'Declines piling up',
    action: 'decline',
    conditions: [{ field: 'cardholder_declines_24h', operator: '>=', value: 8 }],
  },
];

function rules(): RuleVersion[] {
  return evaluationOrder(
    RULES.map((input, index) => {
      const parsed = parseRuleDefinition(input);
      if (!('conditions' in parsed)) throw new Error(`bench rule ${index}: ${parsed.message}`);
      return { ...parsed, id: `rule_${String(index).padStart(26, '0')}`, version: 1 };
    }),
  );
}

function percentile(sorted: Float64Array, share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? NaN;
}

const microseconds = (ms: number): string => `${(ms * 1000).toFixed(1)} µs`;

export async function benchRisk(): Promise<void> {
  const generated = generateAuthorizations({ cardholders: 3_000, days: 14 });
  const stream = generated.authorizations;
  const measureFrom = (stream[0]?.time ?? 0) + 7 * DAY_MS;

  // The decision's own objects, with nothing behind the database handle: the policy is already in memory (as it is
  // from a process's second decision on), and the state rows are kept here as the table would keep them.
  const nowhere = (): never => {
    throw new Error('the risk bench reads nothing from a database');
  };
  const db = { backend: 'postgres', query: nowhere, exec: nowhere } as unknown as Database;
  const tx: Transaction = {
    inTransaction: true,
    query: nowhere,
    exec: nowhere,
    afterCommit: (callback) => callback(),
  };
  const memory = riskMemoryFor(db);
  memory.policies.set(PROGRAM, {
    version: 1,
    policy: { rules: rules(), protections: DEFAULT_PROTECTIONS, model: riskModel() },
  });
  const versions = new Map([[PROGRAM, 1]]);
  const rows = new Map<string, Uint8Array>();

  const timings = new Float64Array(stream.length);
  let measured = 0;
  let declined = 0;
  let reviewed = 0;
  let legitimate = 0;
  let legitimateDeclined = 0;
  let fraud = 0;
  let fraudDeclined = 0;
  let stateBytes = 0;
  for (const auth of stream) {
    const started = performance.now();
    const group = await GroupRisk.start(
      tx,
      db,
      new Map([[auth.cardholderId, { programId: PROGRAM, state: rows.get(auth.cardholderId) ?? null }]]),
      versions,
      new Date(auth.time),
    );
    const input: RiskInput = {
      programId: PROGRAM,
      cardId: auth.cardId,
      cardholderId: auth.cardholderId,
      homeCountry: auth.cardholderCountry,
      merchantKey: auth.merchantId,
      merchantCountry: auth.merchantCountry,
      entryMode: auth.entryMode,
      // The decision keys a device by its blind index (an HMAC-SHA256), which costs what this hash does.
      deviceKey: auth.deviceId === null ? null : createHash('sha256').update(auth.deviceId).digest('hex'),
      amount: auth.amount,
      fields: {
        merchant_amount: auth.amount,
        merchant_currency: 'HKD',
        currency: 'HKD',
        'merchant.mcc': auth.mcc,
        'merchant.country': auth.merchantCountry,
        'merchant.acceptor_id': auth.merchantId,
        'merchant.name': auth.merchantId,
        'card.id': auth.cardId,
        'cardholder.id': auth.cardholderId,
      },
    };
    const { features, assessment } = group.assess(input);
    const approved = auth.approved && assessment.record.verdict !== 'decline';
    group.record(input, features, approved);
    const statement = group.statement();
    group.countOnCommit(tx);
    const elapsed = performance.now() - started;
    // What the state's write carries, kept as the table would keep it.
    const written = statement?.params[2];
    const state: unknown = Array.isArray(written) ? (written as readonly unknown[])[0] : undefined;
    if (state instanceof Uint8Array) rows.set(auth.cardholderId, state);
    if (auth.time < measureFrom) continue;
    timings[measured] = elapsed;
    measured += 1;
    const isDeclined = assessment.record.verdict === 'decline';
    if (isDeclined) declined += 1;
    if (auth.fraud === null) {
      legitimate += 1;
      if (isDeclined) legitimateDeclined += 1;
    } else {
      fraud += 1;
      if (isDeclined) fraudDeclined += 1;
    }
    if (assessment.record.verdict === 'review') reviewed += 1;
    stateBytes += rows.get(auth.cardholderId)?.length ?? 0;
  }
  const sorted = timings.slice(0, measured).sort();
  const total = sorted.reduce((sum, each) => sum + each, 0);
  console.log(
    `risk     per authorization, in-process (${measured.toLocaleString('en-US')} authorizations of ${generated.cards.toLocaleString('en-US')} cards, ${RULES.length} rules, the model, the protections):`,
  );
  console.log(
    `         mean ${microseconds(total / measured)}  p50 ${microseconds(percentile(sorted, 0.5))}  p99 ${microseconds(percentile(sorted, 0.99))}  p99.9 ${microseconds(percentile(sorted, 0.999))}  max ${microseconds(sorted[measured - 1] ?? NaN)}  (target: p99 under 1 ms)`,
  );
  const share = (part: number, whole: number): string => `${((part / Math.max(1, whole)) * 100).toFixed(2)}%`;
  console.log(
    `         state row ${Math.round(stateBytes / measured).toLocaleString('en-US')} bytes on average; declined ${share(declined, measured)}, reviewed ${share(reviewed, measured)}: ${share(legitimateDeclined, legitimate)} of legitimate authorizations, ${share(fraudDeclined, fraud)} of fraud (${fraud.toLocaleString('en-US')} generated)`,
  );
}
