/**
 * Who may read `/metrics` (spec §3 operations): with METRICS_PORT it is served on a listener of
 * its own and not on the public port; with METRICS_TOKEN it requires that bearer token. Secrets
 * are compared in constant time.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sameSecret } from '../../src/http/auth.js';
import { startNode, type TestNode } from '../support/node.js';

const METRICS_TOKEN = 'scrape-token-for-tests-0123456789';

/** GET over a real socket; the body as text, and the envelope when the answer is JSON. */
async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  const json = res.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(text) as { data: unknown; errors: unknown }) : null;
  return { status: res.status, headers: res.headers, text, json };
}

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('sameSecret', () => {
  it('is true for the secret only', () => {
    expect(sameSecret('s3cret-ü', 's3cret-ü')).toBe(true);
    expect(sameSecret('s3cret-x', 's3cret-ü')).toBe(false);
    expect(sameSecret('s3cret', 's3cret-ü')).toBe(false);
    expect(sameSecret(`s3cret-ü${'x'.repeat(10_000)}`, 's3cret-ü')).toBe(false);
    expect(sameSecret('', 's3cret-ü')).toBe(false);
    expect(sameSecret(null, 's3cret-ü')).toBe(false);
  });
});

describe('METRICS_TOKEN on the public port', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startNode({ METRICS_TOKEN });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a scrape without the token or with another one with a 401 envelope', async () => {
    const refused: Record<string, string>[] = [{}, { authorization: `Bearer ${METRICS_TOKEN}x` }, { authorization: METRICS_TOKEN }, { authorization: 'Bearer ' }];
    for (const headers of refused) {
      const res = await get(`${t.http}/metrics`, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(res.json).toEqual({ data: null, errors: 'Authorization: Bearer <METRICS_TOKEN> is required' });
    }
  });

  it('serves Prometheus text with the token', async () => {
    const res = await get(`${t.http}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/^massenger_connections \d+$/m);
  });

  it('leaves the other routes as they were', async () => {
    expect((await get(`${t.http}/healthz`)).status).toBe(200);
  });
});

describe('METRICS_PORT', () => {
  let t: TestNode;
  let metricsUrl: string;
  beforeAll(async () => {
    t = await startNode({ METRICS_PORT: '0', METRICS_HOST: '127.0.0.1', METRICS_TOKEN });
    // main.ts listens on METRICS_PORT; here port 0, like the public listener in startNode.
    const metricsApp = t.node.metricsApp;
    if (metricsApp === null) throw new Error('METRICS_PORT is set but the node has no metrics app');
    await metricsApp.listen({ port: 0, host: t.config.metricsHost });
    metricsUrl = `http://127.0.0.1:${(metricsApp.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves /metrics on its own port, with the token', async () => {
    const res = await get(`${metricsUrl}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^massenger_connections \d+$/m);
    expect((await get(`${metricsUrl}/metrics`)).status).toBe(401);
  });

  it('no longer serves /metrics on the public port: 404 there, token or not', async () => {
    const res = await get(`${t.http}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ data: null, errors: 'no route GET /metrics' });
  });

  it('serves nothing else on the metrics port, in the envelope', async () => {
    for (const path of ['/healthz', '/massenger', '/socket/notifications']) {
      const res = await get(`${metricsUrl}${path}`);
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ data: null, errors: `no route GET ${path}` });
    }
    expect((await get(`${metricsUrl}/metrics%zz`)).json).toMatchObject({ data: null });
  });

  it('is closed with the node', async () => {
    const port = Number(new URL(metricsUrl).port);
    expect(await listening(port)).toBe(true);
    await t.close();
    expect(await listening(port)).toBe(false);
  });
});
