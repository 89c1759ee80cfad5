/**
 * How far a capture may exceed what was authorized before it is "beyond tolerance" (DESIGN.md, "Reference
 * facts"): tips at restaurants, bars and taxis, incidentals at hotels and car rental. Beyond it, the clearing is
 * still posted (clearing is never declined) and flagged for review. In basis points of the approved amount.
 */
const TIP_BPS = 2_000;
const INCIDENTALS_BPS = 1_500;

const BY_MCC: Readonly<Record<string, number>> = {
  '5812': TIP_BPS, // eating places and restaurants
  '5813': TIP_BPS, // bars and taverns
  '5814': TIP_BPS, // fast food
  '4121': TIP_BPS, // taxis and limousines
  '7230': TIP_BPS, // beauty and barber shops
  '4411': INCIDENTALS_BPS, // cruise lines
  '7011': INCIDENTALS_BPS, // lodging
  '7512': INCIDENTALS_BPS, // car rental
};

export function overCaptureToleranceBps(mcc: string): number {
  const known = BY_MCC[mcc];
  if (known !== undefined) return known;
  const code = Number(mcc);
  // Hotel chains 3501–3999 and car rental agencies 3351–3500 share their category's tolerance.
  if (code >= 3351 && code <= 3999) return INCIDENTALS_BPS;
  return 0;
}

/** The most that may be captured in all against `approved` at this MCC while staying within tolerance. */
export function captureCeiling(approved: number, mcc: string): number {
  return approved + Math.floor((approved * overCaptureToleranceBps(mcc)) / 10_000);
}
