/**
 * Risk inside the authorization decision (decide.ts): for a group of requests, their features from state kept
 * current as authorizations happen, then the assessment (risk/assess.ts), then what the group records.
 *
 * Where each feature comes from, none by scanning a table:
 * - card and cardholder windows, first time at a merchant, country changes and travel: the cardholder's compact
 *   risk state (risk/holder-state.ts), read with the cardholder's row under the lock the decision takes anyway, and
 *   rewritten in the group's one round trip of writes. Exact, and the same for every process.
 * - merchant and device windows: the process's shared counters (risk/shared-counters.ts), counted in memory as
 *   decisions commit and shared with other processes through the database about once a second, off the hot path;
 *   plus this group's own earlier requests.
 * - the rest (amount, category risk, entry mode, hour, foreign merchant) from the request itself.
 *
 * The programme's rules and protections are kept per process and read again when `programs.risk_rules_version`,
 * which every decision reads with the programme, moves on. Until KYC records where a cardholder lives (issue 10),
 * the programme's region stands for their country.
 */
import type { Database, Transaction } from '../platform/db/database.js';
import type { Statement } from '../platform/db/statements.js';
import {
  assessRisk,
  type AuthorizationFields,
  type RiskAssessment,
  type RiskPolicy,
} from '../risk/assess.js';
import { hongKongHour, type EntryMode } from '../risk/feature-tracker.js';
import { WINDOWS, mccRiskClass, type RiskFeatures } from '../risk/features.js';
import {
  decodeHolderState,
  encodeHolderState,
  holderFeatures,
  recordHolderAuthorization,
  type HolderAuthorization,
  type HolderRiskState,
} from '../risk/holder-state.js';
import { loadRiskModelFile, type RiskModel } from '../risk/model.js';
import { storedProtections } from '../risk/protections.js';
import { enabledRules } from '../risk/rule-store.js';
import {
  RiskCounters,
  type CounterActivity,
  type DeviceFeatures,
  type MerchantFeatures,
} from '../risk/shared-counters.js';

/** What a process keeps for risk, per database. */
export interface RiskMemory {
  readonly counters: RiskCounters;
  /** Each programme's rules and protections, with the `risk_rules_version` they were read at. */
  readonly policies: Map<string, { readonly version: number; readonly policy: RiskPolicy }>;
}

const memories = new WeakMap<Database, RiskMemory>();
let model: RiskModel | undefined;

/** The committed model, loaded once per process on first use. */
export function riskModel(): RiskModel {
  model ??= loadRiskModelFile();
  return model;
}

export function riskMemoryFor(db: Database): RiskMemory {
  let memory = memories.get(db);
  if (memory === undefined) {
    memory = { counters: new RiskCounters(), policies: new Map() };
    memories.set(db, memory);
  }
  return memory;
}

/** The programmes' policies at the versions the group read; programmes whose version moved on are read again. */
async function policiesAt(
  tx: Transaction,
  memory: RiskMemory,
  versions: ReadonlyMap<string, number>,
): Promise<Map<string, RiskPolicy>> {
  const policies = new Map<string, RiskPolicy>();
  const stale: string[] = [];
  for (const [programId, version] of versions) {
    const kept = memory.policies.get(programId);
    if (kept !== undefined && kept.version === version) policies.set(programId, kept.policy);
    else stale.push(programId);
  }
  if (stale.length === 0) return policies;
  const protections = await tx.query<{ id: string; risk_protections: unknown }>(
    'SELECT id, risk_protections FROM programs WHERE id = ANY($1::text[])',
    [stale],
  );
  const stored = new Map(protections.rows.map((row) => [row.id, row.risk_protections]));
  for (const programId of stale) {
    const policy: RiskPolicy = {
      rules: await enabledRules(tx, programId),
      protections: storedProtections(stored.get(programId)),
      model: riskModel(),
    };
    // Read under the cardholder locks of this group, after the version the group saw: a change committed in
    // between is newer than that version, so it is kept under it only until the next decision reads the newer one.
    memory.policies.set(programId, { version: versions.get(programId) ?? 0, policy });
    policies.set(programId, policy);
  }
  return policies;
}

/**
 * The cardholder's country, until KYC records it (issue 10): the programme's region when that is a country code
 * (`hk`, `sg`), since a programme serves the people of its region; null for a wider region (`eu-west`), where
 * `foreign_merchant` is left missing rather than guessed. `uk` is the United Kingdom's region name, GB its code.
 */
export function homeCountryOf(region: string): string | null {
  if (region === 'uk') return 'GB';
  return /^[a-z]{2}$/.test(region) ? region.toUpperCase() : null;
}

/** One request as risk sees it. */
export interface RiskInput {
  readonly programId: string;
  readonly cardId: string;
  readonly cardholderId: string;
  /** The cardholder's country (ISO alpha-2) when known; `homeCountryOf` says how it is known for now. */
  readonly homeCountry: string | null;
  readonly merchantKey: string;
  readonly merchantCountry: string | null;
  readonly entryMode: EntryMode;
  /** The device counters' key (the blind index of the device or IP address), when the channel carried one. */
  readonly deviceKey: string | null;
  /** What was asked, in the card's currency. */
  readonly amount: number;
  readonly fields: AuthorizationFields;
}

/** A group's own earlier requests at one merchant or device, by feature name: added to every window's value. */
type GroupAdds = Map<string, number>;

function countedIn(
  adds: GroupAdds | undefined,
  scope: 'merchant' | 'device',
  amount: number,
  approved: boolean,
  newCard: boolean,
): GroupAdds {
  const counted = adds ?? new Map<string, number>();
  const add = (name: string, value: number) => counted.set(name, (counted.get(name) ?? 0) + value);
  for (const window of WINDOWS) {
    add(`${scope}_count_${window}`, 1);
    add(`${scope}_amount_${window}`, amount);
    if (!approved) add(`${scope}_declines_${window}`, 1);
  }
  if (newCard) {
    add('merchant_new_cards_1h', 1);
    add('merchant_new_cards_24h', 1);
  }
  return counted;
}

/** The shared counters' values with the group's own adds on top, into `features`. */
function addCounts(
  features: Record<string, number | boolean | string>,
  shared: MerchantFeatures | DeviceFeatures,
  adds: GroupAdds | undefined,
): void {
  const values: Readonly<Record<string, number>> = { ...shared };
  for (const name in values) features[name] = (values[name] ?? 0) + (adds?.get(name) ?? 0);
}

/**
 * A group's risk: its cardholders' states (changed in memory as the group decides, in its order) and what it
 * counted, which reaches the shared counters only once the transaction commits.
 */
export class GroupRisk {
  private readonly holders = new Map<
    string,
    { programId: string; state: HolderRiskState; changed: boolean }
  >();
  private readonly merchants = new Map<string, GroupAdds>();
  private readonly devices = new Map<string, GroupAdds>();
  private readonly activity: CounterActivity[] = [];
  /** Cardholders whose stored state could not be read, and started again empty. */
  discarded = 0;

  private constructor(
    private readonly memory: RiskMemory,
    private readonly policies: ReadonlyMap<string, RiskPolicy>,
    private readonly now: number,
  ) {}

  /**
   * `states`: each locked cardholder's stored state (null when they have none yet), with their programme;
   * `versions`: each programme's `risk_rules_version` as the group read it.
   */
  static async start(
    tx: Transaction,
    db: Database,
    states: ReadonlyMap<string, { readonly programId: string; readonly state: Uint8Array | null }>,
    versions: ReadonlyMap<string, number>,
    now: Date,
  ): Promise<GroupRisk> {
    const memory = riskMemoryFor(db);
    const group = new GroupRisk(memory, await policiesAt(tx, memory, versions), now.getTime());
    for (const [cardholderId, stored] of states) {
      const state = decodeHolderState(stored.state);
      if (state.discarded) {
        group.discarded += 1;
        // Only risk's memory is lost (the features start again from nothing), but someone should know.
        process.emitWarning(
          `the risk state of cardholder ${cardholderId} could not be read and starts again empty`,
          'RiskStateWarning',
        );
      }
      group.holders.set(cardholderId, { programId: stored.programId, state, changed: false });
    }
    return group;
  }

  private holderAuthorization(input: RiskInput, approved: boolean): HolderAuthorization {
    return {
      time: this.now,
      cardId: input.cardId,
      merchantId: input.merchantKey,
      merchantCountry: input.merchantCountry ?? '',
      entryMode: input.entryMode,
      amount: input.amount,
      approved,
    };
  }

  private holder(input: RiskInput): { programId: string; state: HolderRiskState; changed: boolean } {
    const holder = this.holders.get(input.cardholderId);
    if (holder === undefined) throw new Error('risk was asked about a cardholder the group did not lock');
    return holder;
  }

  /** The request's features, given everything recorded before it, this group's earlier requests included. */
  features(input: RiskInput): RiskFeatures {
    const { state } = this.holder(input);
    const features: Record<string, number | boolean | string> = {
      amount: input.amount,
      mcc_risk_class: mccRiskClass(input.fields['merchant.mcc']),
      entry_mode: input.entryMode,
      local_hour: hongKongHour(this.now),
    };
    // Missing (as the model was trained to expect for what is unknown) when the cardholder's country is not known.
    if (input.homeCountry !== null)
      features.foreign_merchant = (input.merchantCountry ?? '') !== input.homeCountry;
    Object.assign(features, holderFeatures(state, this.holderAuthorization(input, true)));
    // This group's earlier requests happened this minute: inside every window.
    addCounts(
      features,
      this.memory.counters.merchantFeatures(input.merchantKey, this.now),
      this.merchants.get(input.merchantKey),
    );
    if (input.deviceKey !== null) {
      addCounts(
        features,
        this.memory.counters.deviceFeatures(input.deviceKey, this.now),
        this.devices.get(input.deviceKey),
      );
    }
    return features;
  }

  assess(input: RiskInput): { readonly features: RiskFeatures; readonly assessment: RiskAssessment } {
    const policy = this.policies.get(input.programId);
    if (policy === undefined) throw new Error(`no risk policy was read for programme ${input.programId}`);
    const features = this.features(input);
    return { features, assessment: assessRisk(policy, features, input.fields) };
  }

  /** Records a decided request: later requests in the group, and after the commit every decision, count it. */
  record(input: RiskInput, features: RiskFeatures, approved: boolean): void {
    const holder = this.holder(input);
    recordHolderAuthorization(holder.state, this.holderAuthorization(input, approved));
    holder.changed = true;
    const newCard = features.first_time_merchant === true;
    const amount = approved ? input.amount : 0;
    this.merchants.set(
      input.merchantKey,
      countedIn(this.merchants.get(input.merchantKey), 'merchant', amount, approved, newCard),
    );
    if (input.deviceKey !== null) {
      this.devices.set(
        input.deviceKey,
        countedIn(this.devices.get(input.deviceKey), 'device', amount, approved, false),
      );
    }
    this.activity.push({
      merchantKey: input.merchantKey,
      deviceKey: input.deviceKey,
      at: this.now,
      amount,
      declined: !approved,
      newCard,
    });
  }

  /** The changed cardholder states' upsert, in cardholder id order (the order their locks were taken). */
  statement(): Statement | undefined {
    const changed = [...this.holders]
      .filter(([, holder]) => holder.changed)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (changed.length === 0) return undefined;
    return {
      sql: `INSERT INTO risk_cardholder_states (cardholder_id, program_id, state, updated_at)
        SELECT r.cardholder_id, r.program_id, r.state, $4
        FROM unnest($1::text[], $2::text[], $3::bytea[]) AS r(cardholder_id, program_id, state)
        ON CONFLICT (cardholder_id) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at`,
      params: [
        changed.map(([cardholderId]) => cardholderId),
        changed.map(([, holder]) => holder.programId),
        changed.map(([, holder]) => encodeHolderState(holder.state)),
        new Date(this.now),
      ],
    };
  }

  /** Has the shared counters count this group's requests once its transaction commits, and never otherwise. */
  countOnCommit(tx: Transaction): void {
    if (this.activity.length === 0) return;
    const { counters } = this.memory;
    const activity = this.activity;
    tx.afterCommit(() => counters.add(activity));
  }
}
