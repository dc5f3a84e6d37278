/**
 * Reads Prometheus text exposition (what /metrics serves) back into numbers, so tests assert on
 * exactly what a scraper would see.
 */

/** Series name with labels as written (`compactd_blob_requests_total{op="get"}`) to value. */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of every series of `name` (any labels); 0 when absent. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const [series, value] of parseExposition(text)) {
    if (series === name || series.startsWith(`${name}{`)) sum += value;
  }
  return sum;
}
