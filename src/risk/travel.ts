/**
 * The rule behind the `impossible_travel` feature: a card-present authorization is impossible travel when the
 * card's previous card-present authorization was in a different country less than the minimum travel time ago.
 * The minimum travel time between two countries is one hour (getting to and through a border or an airport) plus
 * the great-circle distance between their main cities at 800 km/h (a jet's block speed). So Hong Kong to Macau or
 * Shenzhen needs about 1 hour, to Tokyo about 4.6 hours, to London about 13 hours. A country missing from the
 * table gets a flat 3 hours: the rule then flags only the fastest hops, rather than guessing a distance.
 *
 * The production engine computes the feature with this same rule, as the reference tracker does, or the model sees
 * in production a feature it was not trained on.
 */

/** Latitude and longitude of each country's main city (where most card-present spending is), degrees. */
const COUNTRY_LOCATIONS: Readonly<Record<string, readonly [number, number]>> = {
  HK: [22.3, 114.17],
  MO: [22.19, 113.54],
  CN: [22.54, 114.06], // Shenzhen: most Hong Kong cardholders' spending in the mainland is just over the border
  TW: [25.03, 121.56],
  JP: [35.68, 139.69],
  KR: [37.57, 126.98],
  SG: [1.35, 103.82],
  MY: [3.14, 101.69],
  TH: [13.76, 100.5],
  VN: [10.82, 106.63],
  PH: [14.6, 120.98],
  ID: [-6.2, 106.85],
  IN: [19.08, 72.88],
  AE: [25.2, 55.27],
  AU: [-33.87, 151.21],
  NZ: [-36.85, 174.76],
  GB: [51.51, -0.13],
  FR: [48.86, 2.35],
  DE: [50.11, 8.68],
  IT: [41.9, 12.5],
  ES: [40.42, -3.7],
  NL: [52.37, 4.9],
  CH: [47.37, 8.54],
  US: [40.71, -74.01],
  CA: [43.65, -79.38],
  BR: [-23.55, -46.63],
  MX: [19.43, -99.13],
  RU: [55.76, 37.62],
  NG: [6.52, 3.38],
  ZA: [-26.2, 28.05],
};

const BORDER_MS = 3_600_000;
const CRUISING_KM_PER_HOUR = 800;
const UNKNOWN_COUNTRY_MS = 3 * 3_600_000;
const EARTH_RADIUS_KM = 6371;

export function countryDistanceKm(from: string, to: string): number | undefined {
  const a = COUNTRY_LOCATIONS[from];
  const b = COUNTRY_LOCATIONS[to];
  if (a === undefined || b === undefined) return undefined;
  const radians = Math.PI / 180;
  const dLat = (b[0] - a[0]) * radians;
  const dLon = (b[1] - a[1]) * radians;
  const h =
    Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * radians) * Math.cos(b[0] * radians) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The least time a person needs to go from one country to another; zero within a country. */
export function minimumTravelMs(from: string, to: string): number {
  if (from === to) return 0;
  const distance = countryDistanceKm(from, to);
  if (distance === undefined) return UNKNOWN_COUNTRY_MS;
  return BORDER_MS + (distance / CRUISING_KM_PER_HOUR) * 3_600_000;
}

/** Whether a card-present authorization at `to` after one at `from` `elapsedMs` earlier is faster than travel allows. */
export function isImpossibleTravel(from: string, to: string, elapsedMs: number): boolean {
  return from !== to && elapsedMs < minimumTravelMs(from, to);
}
