import { describe, expect, it } from 'vitest';
import { Metrics } from '../src/metrics.js';

describe('Metrics', () => {
  it('two instances in one process do not clash', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.connections.inc(3);
    b.connections.inc(1);
    a.framesIn.inc({ method: 'PING' });
    expect(await a.text()).toMatch(/^massenger_connections 3$/m);
    expect(await b.text()).toMatch(/^massenger_connections 1$/m);
    expect(await b.text()).not.toContain('massenger_frames_in_total{method="PING"}');
  });

  it('exposes every named metric with its labels', async () => {
    const m = new Metrics();
    m.onlineUsers.set(2);
    m.framesIn.inc({ method: 'SEND_MESSAGE' });
    m.framesOut.inc({ method: 'MESSAGE_SENT' }, 4);
    m.errors.inc({ code: 'NOT_FOUND' });
    m.storeSeconds.observe({ operation: 'insertMessage' }, 0.003);
    m.closes.inc({ code: '4408' });
    const text = await m.text();
    expect(text).toMatch(/^massenger_online_users 2$/m);
    expect(text).toMatch(/^massenger_frames_in_total\{method="SEND_MESSAGE"\} 1$/m);
    expect(text).toMatch(/^massenger_frames_out_total\{method="MESSAGE_SENT"\} 4$/m);
    expect(text).toMatch(/^massenger_errors_total\{code="NOT_FOUND"\} 1$/m);
    expect(text).toMatch(/^massenger_store_seconds_bucket\{le="0.0025",operation="insertMessage"\} 0$/m);
    expect(text).toMatch(/^massenger_store_seconds_bucket\{le="0.005",operation="insertMessage"\} 1$/m);
    expect(text).toMatch(/^massenger_store_seconds_count\{operation="insertMessage"\} 1$/m);
    expect(text).toMatch(/^massenger_closes_total\{code="4408"\} 1$/m);
  });

  it('counts frames out as they are sent, and adds them up at each read', async () => {
    const m = new Metrics();
    for (let i = 0; i < 3; i++) m.countFrameOut('MESSAGE_SENT');
    m.countFrameOut('PONG');
    expect(await m.text()).toMatch(/^massenger_frames_out_total\{method="MESSAGE_SENT"\} 3$/m);
    m.countFrameOut('MESSAGE_SENT');
    const text = await m.text();
    expect(text).toMatch(/^massenger_frames_out_total\{method="MESSAGE_SENT"\} 4$/m);
    expect(text).toMatch(/^massenger_frames_out_total\{method="PONG"\} 1$/m);
  });

  it('prefixes the default process metrics, or leaves them out', async () => {
    expect(await new Metrics().text()).toMatch(/^massenger_process_cpu_user_seconds_total /m);
    const bare = await new Metrics({ defaultMetrics: false }).text();
    expect(bare).not.toContain('process_cpu');
    expect(bare).toContain('massenger_connections');
  });

  it('every metric name carries the massenger_ prefix', async () => {
    const names = (await new Metrics().registry.getMetricsAsJSON()).map((metric) => metric.name);
    expect(names.length).toBeGreaterThan(8);
    for (const name of names) expect(name).toMatch(/^massenger_/);
  });

  it('reports the Prometheus text content type', () => {
    expect(new Metrics().contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});
