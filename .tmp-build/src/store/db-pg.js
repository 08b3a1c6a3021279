/**
 * Db over a node-postgres pool. pg's defaults already give what the store expects: int8 as
 * decimal strings (ids never lose precision) and timestamptz as Date.
 */
import pg from 'pg';
export class PgDb {
    #pool;
    constructor(options) {
        this.#pool = new pg.Pool({
            connectionString: options.connectionString,
            max: options.maxConnections ?? 10,
            connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
            statement_timeout: options.statementTimeoutMs ?? 10000,
            keepAlive: true,
        });
        // Without a listener, an idle client's connection error would crash the process.
        this.#pool.on('error', (err) => options.onError?.(err));
    }
    async query(text, values) {
        const result = await this.#pool.query(text, values);
        return { rows: result.rows };
    }
    async transaction(fn) {
        const client = await this.#pool.connect();
        // A checked-out client has no pool listener: a connection lost between two statements would
        // otherwise be an unhandled 'error' event. The next query fails with it anyway.
        let lost;
        const onError = (err) => (lost = err);
        client.on('error', onError);
        try {
            await client.query('BEGIN');
            const result = await fn({
                query: async (text, values) => ({ rows: (await client.query(text, values)).rows }),
            });
            await client.query('COMMIT');
            return result;
        }
        catch (err) {
            await client.query('ROLLBACK').catch((rollbackErr) => (lost ??= rollbackErr));
            throw err;
        }
        finally {
            client.removeListener('error', onError);
            // Passing an error destroys the connection instead of returning a broken one to the pool.
            client.release(lost);
        }
    }
    async close() {
        await this.#pool.end();
    }
}
