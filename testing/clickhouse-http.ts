/* A loopback endpoint that speaks the part of ClickHouse's HTTP interface @clickhouse/client uses, and
 * executes on the embedded engine (chDB): the client adapter's tests run over the client's real HTTP
 * transport (URL parameters, query parameters, settings, gzip both ways, error bodies) on a machine where
 * no current ClickHouse server can run (README "ClickHouse server"). Test code only. */
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Session } from 'chdb';

/** URL parameters that are the HTTP interface's own, not settings of the query */
const TRANSPORT = new Set(['query', 'database', 'query_id', 'session_id', 'default_format', 'role', 'user', 'password', 'enable_http_compression', 'wait_end_of_query']);
/** settings that belong to one insert and must not outlive it */
const PER_INSERT = /^(insert_|deduplicate_blocks_in_dependent_materialized_views$)/;

/** What the endpoint saw, for tests to hold the client adapter to what it must send. */
export interface EndpointLog {
  requests: number;
  /** the settings of each request, as sent */
  settings: Record<string, string>[];
  gzipRequests: number;
  gzipResponses: number;
  users: string[];
}

export interface ClickHouseHttpEndpoint {
  url: string;
  log: EndpointLog;
  close(): Promise<void>;
}

/** The escaped (TSV) form a parameter value travels in, back to its text. */
function unescapeTsv(s: string): string {
  const map: Record<string, string> = { '\\': '\\', '0': '\0', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', "'": "'" };
  return s.replace(/\\(.)/g, (_, c: string) => map[c] ?? c);
}

/** A ClickHouse error body: "Code: N. DB::Exception: message (NAME)". */
function errorBody(e: unknown): { code: string; body: string } {
  const msg = (e as Error).message ?? String(e);
  const code = /Code: (\d+)/.exec(msg)?.[1] ?? String((e as { clickhouseCode?: number }).clickhouseCode ?? 1000);
  const body = /^Code: \d+\./.test(msg) ? msg : `Code: ${code}. DB::Exception: ${msg} (UNKNOWN_EXCEPTION)`;
  return { code, body: `${body.trim()}\n` };
}

export async function startClickHouseHttp(dataDir: string): Promise<ClickHouseHttpEndpoint> {
  mkdirSync(dataDir, { recursive: true });
  const session = new Session(dataDir, { connectionArgs: ['--output_format_json_quote_64bit_integers=1'] });
  const log: EndpointLog = { requests: 0, settings: [], gzipRequests: 0, gzipResponses: 0, users: [] };
  // one call at a time, as the engine session needs
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn, fn);
    chain = p.catch(() => undefined);
    return p;
  };
  const applied = new Map<string, string>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && u.pathname === '/ping') {
      res.end('Ok.\n');
      return;
    }
    log.requests++;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') {
      log.gzipRequests++;
      body = gunzipSync(body);
    }
    const auth = req.headers.authorization;
    log.users.push(auth?.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':')[0] : String(req.headers['x-clickhouse-user'] ?? ''));
    if (String(req.headers['content-type'] ?? '').startsWith('multipart/')) throw new Error('multipart query parameters are not supported by this endpoint');
    const settings: Record<string, string> = {};
    const params: Record<string, string> = {};
    for (const [k, v] of u.searchParams) {
      if (k.startsWith('param_')) params[k.slice(6)] = unescapeTsv(v);
      else if (!TRANSPORT.has(k)) settings[k] = v;
    }
    log.settings.push({ ...settings });
    const urlQuery = u.searchParams.get('query') ?? '';
    const insert = /^\s*INSERT\s+INTO\s+([A-Za-z0-9_.`]+)\s*(?:\(([^)]*)\))?\s*FORMAT\s+(\w+)\s*$/is.exec(urlQuery);
    const result = await serial(async () => {
      // session-wide settings as the request gave them (every request of the adapter sends the same)
      for (const [k, v] of Object.entries(settings)) {
        if (PER_INSERT.test(k) || applied.get(k) === v) continue;
        await session.queryAsync(`SET ${k} = ${/^-?\d+(\.\d+)?$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`}`);
        applied.set(k, v);
      }
      if (insert) {
        const perInsert = Object.fromEntries(Object.entries(settings).filter(([k]) => PER_INSERT.test(k)));
        const columns = insert[2]?.split(',').map((c) => c.trim().replace(/`/g, ''));
        const r = await session.insert({ table: insert[1].replace(/`/g, ''), values: body, format: insert[3] as 'JSONEachRow', settings: perInsert, ...(columns ? { columns } : {}) });
        return { text: Buffer.alloc(0), written: (r as { rowsWritten?: number }).rowsWritten ?? 0 };
      }
      const sql = `${urlQuery}${urlQuery && body.length ? '\n' : ''}${body.toString('utf8')}`;
      const r = await session.queryBindAsync(sql, params, { format: u.searchParams.get('default_format') ?? 'TabSeparated' });
      return { text: Buffer.from(r.bytes()), written: 0 };
    });
    res.setHeader('X-ClickHouse-Query-Id', u.searchParams.get('query_id') ?? '');
    res.setHeader('X-ClickHouse-Summary', JSON.stringify({ read_rows: '0', read_bytes: '0', written_rows: String(result.written), written_bytes: '0', total_rows_to_read: '0', result_rows: '0', result_bytes: String(result.text.length), elapsed_ns: '0' }));
    if (u.searchParams.get('enable_http_compression') === '1' && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      log.gzipResponses++;
      res.setHeader('Content-Encoding', 'gzip');
      res.end(gzipSync(result.text));
    } else {
      res.end(result.text);
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const { code, body } = errorBody(e);
      res.statusCode = 500;
      res.setHeader('X-ClickHouse-Exception-Code', code);
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await chain;
      session.close();
    },
  };
}
