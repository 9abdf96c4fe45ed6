import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { splitMysqlScript, toMysqlPlaceholders } from '../src/storage/app-sql.js';
import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { Storage } from '../src/storage/storage.js';
import { registerAppMigrationTests } from './app-migrations-suite.js';
import { limits } from './harness.js';

// Embedded PGlite in a folder: one storage open at a time (a restart closes the previous one).
const dir = mkdtempSync(join(tmpdir(), 'syncline-app-mig-'));
let current: Storage | undefined;
registerAppMigrationTests('PGlite', {
  dialect: 'postgres',
  async open(tables = []) {
    await current?.close();
    current = new PostgresStorage(await createPgliteClient(dir), 'syncline', limits, { names: tables, schema: 'public' });
    return current;
  },
  async cleanup() {
    await current?.close();
    rmSync(dir, { recursive: true, force: true });
  },
});

describe('MySQL scripts and placeholders', () => {
  test('a script splits at ; outside quotes and comments; DELIMITER changes the separator', () => {
    const script = `-- one; comment
CREATE TABLE a (v VARCHAR(9) DEFAULT 'x;y');
INSERT INTO a VALUES ("q;\\"r"); /* c; d */ INSERT INTO \`b;c\` VALUES (1)
DELIMITER $$
CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.v = 'z'; END$$
DELIMITER ;
SELECT 1;
-- only a comment;`;
    expect(splitMysqlScript(script)).toEqual([
      "-- one; comment\nCREATE TABLE a (v VARCHAR(9) DEFAULT 'x;y')",
      'INSERT INTO a VALUES ("q;\\"r")',
      '/* c; d */ INSERT INTO `b;c` VALUES (1)',
      "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.v = 'z'; END",
      'SELECT 1',
    ]);
  });

  test('$n placeholders become ? in text order, never inside quotes; objects become JSON', () => {
    expect(toMysqlPlaceholders("SELECT $2, '$1', $1, $3", ['a', 'b', { k: 1 }])).toEqual(["SELECT ?, '$1', ?, ?", ['b', 'a', '{"k":1}']]);
  });
});
