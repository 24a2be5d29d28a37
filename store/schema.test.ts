/* Schema versions on the embedded engine: a new store and one from before versions are brought to the
 * current version once; a store a newer kiln wrote is refused before anything is changed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChdbStore } from './adapters/chdb.js';
import { SCHEMA_VERSION, SCHEMA_VERSIONS, SchemaTooNewError, applySchema, storedSchemaVersion } from './schema.js';
import { tempDir } from '../testing/testkit.js';

describe('schema versions', () => {
  it('brings a new store to the current version once, and records which kiln did', async () => {
    const store = new ChdbStore(tempDir('schema-new'));
    try {
      assert.deepEqual(
        SCHEMA_VERSIONS.map((v) => v.version),
        Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
        'versions count up by one',
      );
      assert.deepEqual(await applySchema(store, { retentionDays: 7, kilnVersion: '0.1.0' }), { from: 0, to: SCHEMA_VERSION });
      assert.deepEqual(await applySchema(store, { retentionDays: 7, kilnVersion: '0.1.0' }), { from: SCHEMA_VERSION, to: SCHEMA_VERSION });
      assert.deepEqual(await storedSchemaVersion(store), { version: SCHEMA_VERSION, kiln: '0.1.0' });
      const [n] = await store.query<{ n: string | number }>('SELECT count() AS n FROM kiln_schema');
      assert.equal(Number(n.n), 1);
    } finally {
      await store.close();
    }
  });

  it('refuses a store a newer kiln wrote, changing nothing', async () => {
    const store = new ChdbStore(tempDir('schema-newer'));
    try {
      await applySchema(store, { retentionDays: 7 });
      await store.insert('kiln_schema', [{ version: SCHEMA_VERSION + 1, applied_at: 0, kiln: '9.9.9' }]);
      const before = await store.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name`);
      await assert.rejects(applySchema(store, { retentionDays: 7 }), (e: unknown) => e instanceof SchemaTooNewError && e.found === SCHEMA_VERSION + 1 && e.known === SCHEMA_VERSION && /written by kiln 9\.9\.9/.test(e.message));
      assert.deepEqual(await store.query(`SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name`), before);
    } finally {
      await store.close();
    }
  });
});
