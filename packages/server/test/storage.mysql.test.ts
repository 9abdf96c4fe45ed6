import { describe } from 'vitest';
import { mysqlAvailable } from '../../../test/services.js';
import { mysqlHarness } from './mysql-harness.js';
import { registerStorageTests } from './storage-conformance.js';

if (await mysqlAvailable()) registerStorageTests('MySQL/MariaDB', mysqlHarness);
else describe.skip('Storage conformance: MySQL/MariaDB (unreachable; see test/services.ts)', () => {});
