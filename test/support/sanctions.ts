import { loadSanctionsFile, type LoadedList } from '../../src/compliance/sanctions/load.js';
import type { TestApi } from './app.js';

/** A listed individual of a small UN consolidated list written for a test. */
export interface ListedIndividual {
  readonly reference: string;
  /** The name parts, as the UN writes them (FIRST_NAME, SECOND_NAME, …). */
  readonly names: readonly string[];
  readonly dateOfBirth?: string;
  /** As the UN writes it: `Democratic People's Republic of Korea`. */
  readonly nationality?: string;
}

/**
 * People no test cardholder is called: the list a test loads so that screening runs (a live programme issues only
 * to screened cardholders) without anyone matching.
 */
export const UNRELATED_LISTED: readonly ListedIndividual[] = [
  { reference: 'QDi.901', names: ['ZARQAWIYYUN', 'ABD', 'AL-MUHAYMIN'], dateOfBirth: '1961-03-05' },
  {
    reference: 'KPi.902',
    names: ['PAK', 'CHOL', 'UNG'],
    nationality: "Democratic People's Republic of Korea",
  },
];

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');

const NAME_PARTS = ['FIRST_NAME', 'SECOND_NAME', 'THIRD_NAME', 'FOURTH_NAME'];

/** The UN list's published XML around these individuals; `generated` makes each document's bytes its own. */
export function unListXml(individuals: readonly ListedIndividual[], generated: string): Buffer {
  const records = individuals.map((person) => {
    const names = person.names.map(
      (part, i) => `<${NAME_PARTS[i] ?? 'FOURTH_NAME'}>${escape(part)}</${NAME_PARTS[i] ?? 'FOURTH_NAME'}>`,
    );
    const birth =
      person.dateOfBirth === undefined
        ? ''
        : `<INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>EXACT</TYPE_OF_DATE><DATE>${person.dateOfBirth}</DATE></INDIVIDUAL_DATE_OF_BIRTH>`;
    const nationality =
      person.nationality === undefined
        ? ''
        : `<NATIONALITY><VALUE>${escape(person.nationality)}</VALUE></NATIONALITY>`;
    return (
      `<INDIVIDUAL>${names.join('')}<UN_LIST_TYPE>Al-Qaida</UN_LIST_TYPE>` +
      `<REFERENCE_NUMBER>${person.reference}</REFERENCE_NUMBER>${nationality}${birth}</INDIVIDUAL>`
    );
  });
  return Buffer.from(
    [
      '<?xml version="1.0" encoding="UTF-8"?>',
      `<CONSOLIDATED_LIST dateGenerated="${generated}">`,
      `<INDIVIDUALS>${records.join('\n')}</INDIVIDUALS>`,
      '<ENTITIES></ENTITIES>',
      '</CONSOLIDATED_LIST>',
    ].join('\n'),
  );
}

let loads = 0;

/** Loads a small UN list as `lantau sanctions load` would: by default one naming nobody a test creates. */
export async function loadTestSanctionsList(
  api: Pick<TestApi, 'db' | 'clock' | 'ids'>,
  individuals: readonly ListedIndividual[] = UNRELATED_LISTED,
): Promise<LoadedList> {
  loads += 1;
  const generated = new Date(Date.UTC(2026, 0, 1, 0, 0, loads)).toISOString();
  return loadSanctionsFile(
    { db: api.db, clock: api.clock, ids: api.ids },
    unListXml(individuals, generated),
    { type: 'cli', id: 'test' },
  );
}
