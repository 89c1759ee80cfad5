import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { EVENT_OBJECT_ID_SQL, OBJECT_ID_LENGTH_MAX, eventObjectId, objectIdOrNull } from './deliveries.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => db.close());

describe('an event object’s id', () => {
  it('is the same taken in SQL (the fan-out) as in TypeScript (redelivery), for every shape of data', async () => {
    const shapes: { object: unknown }[] = [
      { object: { id: 'card_1', status: 'active' } },
      { object: { id: 'x'.repeat(OBJECT_ID_LENGTH_MAX) } },
      { object: { id: 'x'.repeat(OBJECT_ID_LENGTH_MAX + 1) } },
      { object: { id: '' } },
      { object: { id: 5 } },
      { object: { id: null } },
      { object: { id: ['card_1'] } },
      { object: { name: 'no id' } },
      { object: null },
      { object: [] },
      { object: 'card_1' },
      { object: { id: 'ünïcödé ✓' } },
    ];
    for (const data of shapes) {
      const found = await db.query<{ id: string | null }>(
        `SELECT ${EVENT_OBJECT_ID_SQL} AS id FROM (SELECT $1::jsonb AS data) e`,
        [JSON.stringify(data)],
      );
      expect(objectIdOrNull(found.rows[0]?.id ?? null)).toBe(eventObjectId({ data }));
    }
  });
});
