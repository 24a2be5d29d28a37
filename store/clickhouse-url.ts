/* --clickhouse-url, parsed without loading the client (the agent's and every command's flags are read
 * with it). */

/** The parts of a --clickhouse-url, credentials out of the URL the client logs. */
export function parseClickHouseUrl(text: string): { url: string; username?: string; password?: string; database?: string } {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`--clickhouse-url: "${text}" is not a URL (http://host:8123 or https://host:8443[/database])`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--clickhouse-url: ${u.protocol} is not http: or https: (ClickHouse's HTTP interface)`);
  const database = decodeURIComponent(u.pathname.replace(/^\/+|\/+$/g, ''));
  if (database.includes('/')) throw new Error(`--clickhouse-url: "${u.pathname}" is not a database name`);
  const out = {
    url: `${u.protocol}//${u.host}`,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(database ? { database } : {}),
  };
  return out;
}
