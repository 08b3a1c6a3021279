/** What a node's GET /metrics says, for suites that wait on the node's own view. */

/** Scrapes the node's metrics; the result reads an unlabelled series' value by name (NaN if absent). */
export async function scrape(baseUrl: string): Promise<(name: string) => number> {
  const lines = (await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(3000) })).text()).split('\n');
  return (name) => Number(lines.find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN);
}

/**
 * The node's open WebSocket connections (its `massenger_connections` gauge). The gauge drops when
 * the node handles a close, which a client's own close event does not prove.
 */
export async function openConnections(baseUrl: string): Promise<number> {
  return (await scrape(baseUrl))('massenger_connections');
}
