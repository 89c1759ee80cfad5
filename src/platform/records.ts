/** A JSON object (not null, not an array), as parsed input is checked before its properties are read. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
