import countries from 'i18n-iso-countries';

/** ISO 3166-1 alpha-2, upper case, as DESIGN.md's conventions write countries (`HK`, `GB`; not `UK` or `EU`). */
export function isCountryCode(code: string): boolean {
  return /^[A-Z]{2}$/.test(code) && countries.isValid(code);
}

/** The numeric code networks carry (ISO 8583 fields 19 and 43), such as `344` for HK. */
export function countryNumeric(code: string): string | undefined {
  return isCountryCode(code) ? countries.alpha2ToNumeric(code) : undefined;
}
