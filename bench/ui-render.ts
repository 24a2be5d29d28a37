/* First render of a ~5,000-node flamegraph in headless Chromium: the real UI and API over HTTP, on a
 * real store filled with generated stacks. Prints navigation → first chart drawn. */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { launchChromium, tempDir } from '../testing/testkit.js';
import { buildFlamegraph, type FlameNode } from '../profiler/flamegraph.js';
import { ChdbStore } from '../store/adapters/chdb.js';
import { ProfileRepository } from '../store/tables/profiles.js';
import { schemaStatements } from '../store/schema.js';
import { createApi } from '../web/api.js';
import { uiRoutes } from '../web/ui.js';
import { median } from './common.js';
import { syntheticStacks } from './query.js';

function countNodes(n: FlameNode): number {
  return 1 + n.children.reduce((s, c) => s + countNodes(c), 0);
}

export async function uiRender(runs = 5): Promise<void> {
  const store = new ChdbStore(tempDir('bench-ui'));
  for (const s of schemaStatements({ retentionDays: 7 })) await store.exec(s);
  const repo = new ProfileRepository(store);
  // grow the stack set until the flamegraph has about 5,000 nodes
  let stacks = syntheticStacks(200, 3);
  for (let n = 200; countNodes(buildFlamegraph('x', stacks.map((f) => ({ functions: f.map((x) => x.name), samples: 1 })))) < 5000; n += 20) {
    stacks = syntheticStacks(n, 3);
  }
  const start = Math.floor(Date.now() / 60_000) * 60 - 600;
  await repo.writeWindow({ start, seconds: 60, host: 'bench', periodNs: 10309278, truncatedSamples: 0, apps: [{ app: 'ui-bench', containerId: '', stacks: stacks.map((frames, i) => ({ frames, count: 1 + (i % 17) })) }] });
  const nodes = countNodes(buildFlamegraph('ui-bench', (await repo.stacks('ui-bench', { from: start, to: start + 60 })).map((s) => ({ functions: s.functions, samples: s.samples }))));

  const api = createApi({ profiles: repo, defaultPeriodNs: 1, extend: (a) => uiRoutes(a) });
  const server = serve({ fetch: api.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  const browser = await launchChromium();
  const times: number[] = [];
  let frames = 0;
  for (let i = 0; i < runs + 1; i++) {
    const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    await page.goto(`http://127.0.0.1:${port}/?app=ui-bench&from=${start}&to=${start + 60}`);
    await page.waitForFunction(() => performance.getEntriesByName('kiln:first-render').length > 0, null, { timeout: 30_000 });
    const t = await page.evaluate(() => performance.getEntriesByName('kiln:first-render')[0].startTime);
    frames = Number(await page.evaluate(() => document.body.dataset.frames));
    if (i > 0) times.push(t); // the first run warms the store and the browser cache
    await page.close();
  }
  await browser.close();
  server.close();
  await store.close();
  console.log(`\nUI first render in headless Chromium: flamegraph of ${nodes} nodes (${frames} SVG frames drawn, d3-flame-graph skips those under 2 px)`);
  console.log(`  navigation → chart drawn: median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms over ${runs} page loads`);
}
