/* The embedded engine passes the Store contract. */
import { tempDir } from '../../testing/testkit.js';
import { runStoreContract } from '../store.contract.js';
import { ChdbStore } from './chdb.js';

runStoreContract({ name: 'embedded chDB', make: () => new ChdbStore(tempDir('contract')) });
