import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { LantauError } from '../../platform/errors.js';
import {
  DEFAULT_SCENARIO_SETTINGS,
  SCENARIOS,
  ScenarioSettingsSchema,
  WINDOW_HOURS_MAX,
  parseScenarioSettings,
  readStoredScenarioSettings,
  type ScenarioSettings,
} from './parameters.js';

function refused(input: unknown): LantauError {
  try {
    parseScenarioSettings(input);
  } catch (error) {
    if (error instanceof LantauError) return error;
    throw error;
  }
  throw new Error(`accepted settings that should be refused: ${JSON.stringify(input)}`);
}

describe('scenario settings: defaults', () => {
  it('has every scenario, each with its parameters, valid against its own schema', () => {
    expect(Object.keys(DEFAULT_SCENARIO_SETTINGS)).toEqual(['reporting_currency', ...SCENARIOS]);
    expect(Object.keys(ScenarioSettingsSchema.properties)).toEqual(['reporting_currency', ...SCENARIOS]);
    expect(Value.Check(ScenarioSettingsSchema, DEFAULT_SCENARIO_SETTINGS)).toBe(true);
    for (const scenario of SCENARIOS) expect(DEFAULT_SCENARIO_SETTINGS[scenario].enabled).toBe(true);
  });

  it("watches AMLO's thresholds in HKD: wire transfers of HKD 8,000 and occasional transactions of HKD 120,000", () => {
    expect(DEFAULT_SCENARIO_SETTINGS.structuring.thresholds).toEqual({ HKD: [800_000, 12_000_000] });
  });

  it('gives the defaults for an empty object, and reads whole settings back as they were (a stored version)', () => {
    expect(parseScenarioSettings({})).toEqual(DEFAULT_SCENARIO_SETTINGS);
    const stored = JSON.parse(JSON.stringify(DEFAULT_SCENARIO_SETTINGS)) as unknown;
    expect(parseScenarioSettings(stored)).toEqual(DEFAULT_SCENARIO_SETTINGS);
  });
});

describe('scenario settings: merging', () => {
  it('replaces only the parameters given', () => {
    const settings = parseScenarioSettings({
      structuring: { window_hours: 72 },
      cross_border: { enabled: false },
    });
    expect(settings.structuring).toEqual({ ...DEFAULT_SCENARIO_SETTINGS.structuring, window_hours: 72 });
    expect(settings.cross_border).toEqual({ ...DEFAULT_SCENARIO_SETTINGS.cross_border, enabled: false });
    expect(settings.rapid_movement).toEqual(DEFAULT_SCENARIO_SETTINGS.rapid_movement);
  });

  it('merges amounts by currency: a currency given replaces that currency, the others stay', () => {
    const settings = parseScenarioSettings({
      structuring: { thresholds: { USD: [300_000, 100_000, 300_000] } },
      rapid_movement: { load_amount_min: { HKD: 1_000_00, USD: 500_00 } },
    });
    // Thresholds are kept once each, smallest first.
    expect(settings.structuring.thresholds).toEqual({ HKD: [800_000, 12_000_000], USD: [100_000, 300_000] });
    expect(settings.rapid_movement.load_amount_min).toEqual({ HKD: 1_000_00, USD: 500_00 });
    expect(
      parseScenarioSettings({ structuring: { thresholds: { HKD: [] } } }).structuring.thresholds,
    ).toEqual({
      HKD: [],
    });
  });

  it('takes a currency given as null out of a map, so the rule leaves that currency alone', () => {
    const settings = parseScenarioSettings({
      cross_border: { foreign_amount_min: { HKD: null } },
      structuring: { thresholds: { HKD: null } },
    });
    expect(settings.cross_border.foreign_amount_min).toEqual({});
    expect(settings.structuring.thresholds).toEqual({});
    // Only inside a map: a parameter itself is never null.
    expect(refused({ cross_border: { foreign_amount_min: null } }).param).toBe(
      'cross_border[foreign_amount_min]',
    );
  });

  it("merges over a programme's current settings when given them, and changes neither those nor the defaults", () => {
    const current = parseScenarioSettings({ card_rotation: { used_cards_min: 8 } });
    const before = JSON.stringify(current);
    const next = parseScenarioSettings({ card_rotation: { window_hours: 48 } }, current);
    expect(next.card_rotation).toEqual({
      ...DEFAULT_SCENARIO_SETTINGS.card_rotation,
      used_cards_min: 8,
      window_hours: 48,
    });
    expect(JSON.stringify(current)).toBe(before);
    expect(DEFAULT_SCENARIO_SETTINGS.card_rotation.used_cards_min).toBe(5);
  });

  it('accepts the bounds of each range', () => {
    const settings: ScenarioSettings = parseScenarioSettings({
      structuring: { margin_percent: 50, window_hours: WINDOW_HOURS_MAX, count_min: 2 },
      tier_limit_probing: { balance_percent_min: 100, balance_count_min: 1 },
    });
    expect(settings.structuring.margin_percent).toBe(50);
    expect(settings.structuring.window_hours).toBe(WINDOW_HOURS_MAX);
    expect(settings.tier_limit_probing.balance_count_min).toBe(1);
  });
});

describe('scenario settings: the reporting currency and stored versions', () => {
  /** A programme counting in USD: every amount moved from HKD to USD. */
  const IN_USD = {
    reporting_currency: 'USD',
    structuring: { thresholds: { HKD: null, USD: [1_000_000] } },
    rapid_movement: {
      load_amount_min: { HKD: null, USD: 500_00 },
      load_amount_large: { HKD: null, USD: 6_000_00 },
    },
    cross_border: { foreign_amount_min: { HKD: null, USD: 6_000_00 } },
  };

  it('counts in HKD unless the programme names another reporting currency', () => {
    expect(DEFAULT_SCENARIO_SETTINGS.reporting_currency).toBe('HKD');
    expect(parseScenarioSettings(IN_USD).reporting_currency).toBe('USD');
    // A rule naming amounts, none of them in the reporting currency, would watch other currencies nowhere.
    const unnamed = refused({ reporting_currency: 'USD' });
    expect(unnamed.param).toBe('structuring[thresholds]');
    expect(unnamed.message).toBe(
      'structuring[thresholds] names amounts in HKD but none in the reporting currency USD: amounts in other ' +
        'currencies would be watched nowhere (give one in USD, or none at all)',
    );
    expect(refused({ cross_border: { foreign_amount_min: { HKD: null, USD: 100 } } }).param).toBe(
      'cross_border[foreign_amount_min]',
    );
    for (const value of ['usd', 'XAU', 5, null]) {
      const error = refused({ reporting_currency: value });
      expect(error.code).toBe('scenario_parameter_invalid');
      expect(error.param).toBe('reporting_currency');
      expect(error.message).toContain('reporting_currency must be an ISO 4217 currency code');
    }
  });

  it('reads a stored version as it was stored: a currency taken out stays out', () => {
    const changed = parseScenarioSettings(IN_USD);
    expect(changed.structuring.thresholds).toEqual({ USD: [1_000_000] });
    const stored = JSON.parse(JSON.stringify(changed)) as unknown;
    const read = readStoredScenarioSettings(stored);
    expect(read).toEqual(changed);
    expect(read.rapid_movement.load_amount_min).toEqual({ USD: 500_00 });
    // Given as a change instead, the same object would merge into the defaults' maps and bring HKD back.
    expect(parseScenarioSettings(stored).structuring.thresholds).toHaveProperty('HKD');
  });

  it('fills in a parameter added to Lantau after a version was stored, from the defaults', () => {
    const stored = JSON.parse(JSON.stringify(DEFAULT_SCENARIO_SETTINGS)) as {
      reporting_currency?: string;
      tier_limit_probing: Record<string, unknown>;
    };
    delete stored.reporting_currency;
    delete stored.tier_limit_probing.refused_count_min;
    const read = readStoredScenarioSettings(stored);
    expect(read.reporting_currency).toBe('HKD');
    expect(read.tier_limit_probing.refused_count_min).toBe(
      DEFAULT_SCENARIO_SETTINGS.tier_limit_probing.refused_count_min,
    );
  });
});

describe('scenario settings: refusals', () => {
  it('refuses a scenario that does not exist, naming it and the scenarios there are', () => {
    const error = refused({ smurfing: { enabled: true } });
    expect(error.code).toBe('scenario_unknown');
    expect(error.status).toBe(400);
    expect(error.param).toBe('smurfing');
    expect(error.message).toContain("There is no scenario 'smurfing'");
    expect(error.message).toContain('structuring, tier_limit_probing');
    // Names an object already has are not scenarios either.
    expect(refused({ toString: {} }).code).toBe('scenario_unknown');
  });

  it('refuses an unknown parameter, naming its path and the parameters the scenario has', () => {
    const error = refused({ structuring: { windw_hours: 24 } });
    expect(error.code).toBe('scenario_parameter_invalid');
    expect(error.param).toBe('structuring[windw_hours]');
    expect(error.message).toContain("structuring has no parameter 'windw_hours'");
    expect(error.message).toContain('window_hours');
    expect(refused(JSON.parse('{"structuring":{"__proto__":{"enabled":false}}}')).param).toBe(
      'structuring[__proto__]',
    );
    expect(refused({ shared_device: { constructor: 1 } }).param).toBe('shared_device[constructor]');
  });

  it('refuses a negative, zero or too long window', () => {
    for (const value of [-1, 0, WINDOW_HOURS_MAX + 1]) {
      const error = refused({ structuring: { window_hours: value } });
      expect(error.code).toBe('scenario_parameter_invalid');
      expect(error.param).toBe('structuring[window_hours]');
      expect(error.message).toBe(
        `structuring[window_hours] must be a whole number from 1 to 4,392, not ${String(value)}`,
      );
    }
  });

  it('refuses a value of the wrong type, coercing nothing', () => {
    expect(refused({ structuring: { window_hours: '72' } }).message).toBe(
      'structuring[window_hours] must be a whole number from 1 to 4,392, not the text "72"',
    );
    expect(refused({ structuring: { window_hours: 1.5 } }).param).toBe('structuring[window_hours]');
    expect(refused({ card_rotation: { enabled: 'true' } }).message).toBe(
      'card_rotation[enabled] must be true or false, not the text "true"',
    );
    expect(refused({ capture_abuse: { force_post_count_min: null } }).message).toContain('not null');
    expect(refused({ cross_border: { countries_min: [4] } }).message).toContain('not a list');
  });

  it('refuses a gateway bar for IP addresses below the bar that raises a hit', () => {
    const error = refused({ shared_device: { ip_cardholders_min: 20, ip_cardholders_max: 19 } });
    expect(error.param).toBe('shared_device[ip_cardholders_max]');
    expect(error.message).toBe(
      'shared_device[ip_cardholders_max] (19) must be at least shared_device[ip_cardholders_min] (20)',
    );
  });

  it('refuses a share or count out of its range', () => {
    expect(refused({ structuring: { margin_percent: 60 } }).message).toBe(
      'structuring[margin_percent] must be a whole number from 1 to 50, not 60',
    );
    expect(refused({ structuring: { count_min: 1 } }).param).toBe('structuring[count_min]');
    expect(refused({ tier_limit_probing: { balance_percent_min: 101 } }).param).toBe(
      'tier_limit_probing[balance_percent_min]',
    );
    expect(refused({ shared_device: { cardholders_min: 1 } }).param).toBe('shared_device[cardholders_min]');
  });

  it('refuses amounts by currency that name no currency, or an amount that is not one', () => {
    const lower = refused({ structuring: { thresholds: { hkd: [800_000] } } });
    expect(lower.param).toBe('structuring[thresholds][hkd]');
    expect(lower.message).toContain("'hkd' is not an ISO 4217 currency code");
    expect(refused({ rapid_movement: { load_amount_min: { XAU: 100 } } }).param).toBe(
      'rapid_movement[load_amount_min][XAU]',
    );
    const zero = refused({ structuring: { thresholds: { HKD: [800_000, 0] } } });
    expect(zero.param).toBe('structuring[thresholds][HKD][1]');
    expect(zero.message).toContain('must be a whole number from 1 to');
    expect(refused({ structuring: { thresholds: { HKD: 800_000 } } }).message).toBe(
      'structuring[thresholds][HKD] must be a list of at most 5 amounts, not 800000',
    );
    expect(refused({ structuring: { thresholds: [800_000] } }).param).toBe('structuring[thresholds]');
    expect(refused({ rapid_movement: { load_amount_large: { HKD: -5 } } }).param).toBe(
      'rapid_movement[load_amount_large][HKD]',
    );
  });

  it('refuses settings that are not an object of objects', () => {
    for (const input of [null, [], 'structuring', 3]) {
      const error = refused(input);
      expect(error.code).toBe('scenario_parameter_invalid');
      expect(error.message).toContain('Scenario settings are an object of scenarios');
    }
    const error = refused({ structuring: true });
    expect(error.param).toBe('structuring');
    expect(error.message).toBe('structuring must be an object of its parameters, not true');
  });
});
