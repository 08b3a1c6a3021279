/**
 * A throwaway database per suite on the test PostgreSQL server, so suites running in parallel
 * never see each other's rows or terminate each other's connections.
 */
import { createDatabase, type ScratchDatabase } from '../../scripts/support/database.js';
import { PG_BASE_URL } from './services.js';

/** Creates an empty, uniquely named database; `drop()` removes it even with connections still open. */
export function freshDatabase(): Promise<ScratchDatabase> {
  return createDatabase(PG_BASE_URL, 'massenger_test');
}
