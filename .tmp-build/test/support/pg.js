/**
 * A throwaway database per suite on the test PostgreSQL server, so suites running in parallel
 * never see each other's rows or terminate each other's connections.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PG_BASE_URL } from './services.js';
async function admin(fn) {
    const client = new pg.Client({ connectionString: PG_BASE_URL, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
        return await fn(client);
    }
    finally {
        await client.end();
    }
}
/** Creates an empty, uniquely named database; `drop()` removes it even with connections still open. */
export async function freshDatabase() {
    const name = `massenger_test_${Date.now()}_${randomBytes(4).toString('hex')}`;
    await admin((client) => client.query(`CREATE DATABASE ${name}`));
    const url = new URL(PG_BASE_URL);
    url.pathname = `/${name}`;
    return {
        url: url.toString(),
        name,
        drop: () => admin(async (client) => void (await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
    };
}
