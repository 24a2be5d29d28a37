/* The browser UI: a static page plus d3-flame-graph's assets from node_modules, read once when the
 * routes are set up (they are built before Kiln starts and do not change while it runs). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, '../../node_modules');

export function uiRoutes(app: Hono): void {
  const pageDir = join(here, '../../web/static');
  const files: Record<string, { path: string; type: string }> = {
    '/': { path: join(pageDir, 'index.html'), type: 'text/html; charset=utf-8' },
    '/cost': { path: join(pageDir, 'cost.html'), type: 'text/html; charset=utf-8' },
    '/assets/cost.js': { path: join(here, 'ui/cost.js'), type: 'text/javascript; charset=utf-8' },
    '/dns': { path: join(pageDir, 'dns.html'), type: 'text/html; charset=utf-8' },
    '/assets/dns.js': { path: join(here, 'ui/dns.js'), type: 'text/javascript; charset=utf-8' },
    '/assets/app.js': { path: join(here, 'ui/app.js'), type: 'text/javascript; charset=utf-8' },
    '/assets/dom.js': { path: join(here, 'ui/dom.js'), type: 'text/javascript; charset=utf-8' },
    '/assets/format.js': { path: join(here, 'ui/format.js'), type: 'text/javascript; charset=utf-8' },
    '/assets/style.css': { path: join(pageDir, 'style.css'), type: 'text/css; charset=utf-8' },
    '/assets/d3.min.js': { path: join(modules, 'd3/dist/d3.min.js'), type: 'text/javascript; charset=utf-8' },
    '/assets/d3-flamegraph.min.js': { path: join(modules, 'd3-flame-graph/dist/d3-flamegraph.umd.min.js'), type: 'text/javascript; charset=utf-8' },
  };
  app.get('/favicon.ico', (c) => c.body(null, 204));
  for (const [route, f] of Object.entries(files)) {
    const body = new Uint8Array(readFileSync(f.path));
    app.get(route, (c) => c.body(body, 200, { 'content-type': f.type, 'cache-control': 'no-cache' }));
  }
}
