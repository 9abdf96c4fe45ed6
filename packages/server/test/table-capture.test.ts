import { createPgliteClient } from '../src/storage/pglite-client.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import { openTableStorage, registerTableCaptureTests } from './table-capture-suite.js';

registerTableCaptureTests('PGlite', async () => {
  const sql = await createPgliteClient(undefined);
  // PGlite has one connection: every storage opened by the suite shares it and must not close it.
  const shared: SqlClient = {
    kind: sql.kind,
    query: (text, params) => sql.query(text, params),
    exec: (text) => sql.exec(text),
    transaction: (fn) => sql.transaction(fn),
    listen: (channel, fn) => sql.listen(channel, fn),
    close: async () => {},
  };
  return {
    sql,
    appSchema: 'public',
    open: (tables) => openTableStorage(shared, 'syncline', 'public', tables),
    close: () => sql.close(),
  };
});
