/**
 * A sanctions list entry as Lantau keeps it, whichever list published it: what screening matches against. The
 * parsers (un-list.ts, ofac-list.ts) turn each publisher's format into these, keeping the identifier exactly as the
 * publisher writes it, so a match can be looked up on the list it came from.
 */

export const SANCTIONS_LISTS = ['un', 'ofac'] as const;
export type SanctionsListId = (typeof SANCTIONS_LISTS)[number];

export type SanctionsEntryKind = 'individual' | 'entity' | 'vessel' | 'aircraft';

export interface SanctionsName {
  /** As published, whitespace trimmed and collapsed (never otherwise normalised: matching does that). */
  readonly name: string;
  /** The primary name, or an alias (a.k.a.); the UN's and OFAC's "low quality" aliases are `weak`. */
  readonly role: 'primary' | 'alias';
  readonly quality: 'strong' | 'weak';
}

/** A date of birth as lists give them: exact, a year only, or a range of years. */
export interface ListedBirthDate {
  readonly fromYear: number;
  readonly toYear: number;
  /** Only for an exact date. */
  readonly month?: number;
  readonly day?: number;
  /** The list says circa or approximately: the year (or date) is not certain, and a match may allow a margin. */
  readonly approximate?: boolean;
}

export interface SanctionsEntry {
  readonly list: SanctionsListId;
  /** The publisher's identifier: the UN reference number (`QDi.283`), the OFAC entity number (`306`). */
  readonly reference: string;
  readonly kind: SanctionsEntryKind;
  readonly names: readonly SanctionsName[];
  readonly birthDates: readonly ListedBirthDate[];
  /** ISO 3166-1 alpha-2 codes where the list's country name maps to one. */
  readonly nationalities: readonly string[];
  /** The sanctions programmes or regimes (`DPRK`, `SDGT`). */
  readonly programs: readonly string[];
}
