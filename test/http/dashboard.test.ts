/**
 * ops/grafana-dashboard.json (README "Operations") charts what the node exports: every metric,
 * store operation, error code, close code and method its queries name exists, so a rename in
 * src/ cannot leave a panel silently empty.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCodes } from '../../src/errors.js';
import { Metrics } from '../../src/metrics.js';
import * as closeCodes from '../../src/protocol/close-codes.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: Array<{ expr: string; datasource: { uid: string } }>;
}

const dashboard = JSON.parse(readFileSync('ops/grafana-dashboard.json', 'utf8')) as { uid: string; panels: Panel[] };
const charts = dashboard.panels.filter((p) => p.type !== 'row');
const exprs = charts.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
/** Every value the queries give `label`, as in `label="value"`. */
const values = (label: string) => [...new Set(exprs.flatMap((e) => [...e.matchAll(new RegExp(`\\b${label}="([^"]*)"`, 'g'))].map((m) => m[1]!)))];

describe('the Grafana dashboard', () => {
  it('has a uid, unique panel ids, and queries on every chart through the datasource variable', () => {
    expect(dashboard.uid).toBe('massenger-overview');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of charts) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      for (const target of panel.targets ?? []) expect(target.datasource.uid).toBe('${datasource}');
    }
  });

  it('names only metrics a node exports', async () => {
    const exported = new Set<string>();
    for (const metric of await new Metrics().registry.getMetricsAsJSON()) {
      exported.add(metric.name);
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(metric.name + suffix);
    }
    const named = [...new Set(exprs.flatMap((e) => e.match(/\bmassenger_[a-z0-9_]+/g) ?? []))];
    expect(named.filter((n) => !exported.has(n))).toEqual([]);
    // The panels the operator was promised.
    for (const metric of ['massenger_connections', 'massenger_frames_in_total', 'massenger_frames_out_total', 'massenger_errors_total', 'massenger_store_seconds_bucket', 'massenger_closes_total', 'massenger_append_batch_size_bucket']) {
      expect(named).toContain(metric);
    }
  });

  it('names only store operations, error codes, close codes and methods that exist', () => {
    const store = readFileSync('src/store/sql-store.ts', 'utf8');
    for (const operation of values('operation')) expect(store, operation).toContain(`#run('${operation}'`);
    const closes = Object.values(closeCodes).map(String);
    for (const code of values('code')) expect([...errorCodes, ...closes], code).toContain(code);
    expect(values('code')).toEqual(expect.arrayContaining(['4408', '4429', 'UNAVAILABLE']));
    const frames = readFileSync('src/protocol/frames.ts', 'utf8');
    for (const method of values('method')) expect(frames, method).toContain(`'${method}'`);
  });
});
