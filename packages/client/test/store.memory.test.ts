/** MemoryStore: the Store conformance suite. */
import { MemoryStore } from '../src/store/memory-store.js';
import { registerStoreTests } from './store-conformance.js';

registerStoreTests('MemoryStore', (options) => ({ store: new MemoryStore(options) }));
