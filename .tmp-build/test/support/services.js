/**
 * Access to the real PostgreSQL and Redis for integration suites. With CI=true a suite that needs
 * one of them must run and fail when it cannot reach it; otherwise it is skipped with a visible
 * message.
 */
import net from 'node:net';
export const CI = process.env.CI === 'true';
export const PG_BASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_TEST_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
function reachable(urlText, defaultPort) {
    const url = new URL(urlText);
    return new Promise((resolve) => {
        const socket = net.connect({ host: url.hostname, port: Number(url.port || defaultPort) });
        const done = (ok) => {
            socket.destroy();
            resolve(ok);
        };
        socket.setTimeout(1000, () => done(false));
        socket.once('connect', () => done(true));
        socket.once('error', () => done(false));
    });
}
/**
 * Whether a suite needing this service runs. Use at module top level:
 * `describe.runIf(await needs('postgres'))(...)`.
 */
export async function needs(service) {
    const ok = service === 'postgres' ? await reachable(PG_BASE_URL, 5432) : await reachable(REDIS_TEST_URL, 6379);
    if (ok)
        return true;
    if (CI)
        throw new Error(`CI=true but ${service} is not reachable (${service === 'postgres' ? PG_BASE_URL : REDIS_TEST_URL})`);
    console.warn(`\n*** ${service} is not reachable: skipping the suites that need it (set CI=true to make this an error) ***\n`);
    return false;
}
