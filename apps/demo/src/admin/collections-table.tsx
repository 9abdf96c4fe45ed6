import type { Collections } from './api-types.js';
import { EmptyRow } from './empty-row.js';
import { integer } from './format.js';

export function CollectionsTable({ data }: { data: Collections | null }) {
  const rows = data?.collections ?? [];
  return (
    <section className="panel">
      <h2>
        Collections <span className="muted">{data ? `${rows.length} · ${integer(data.totalOperations)} operations logged` : ''}</span>
      </h2>
      <div className="scroll short">
        <table data-testid="collections-table">
          <thead>
            <tr>
              <th>Name</th>
              <th className="num">Documents</th>
              <th className="num">Deleted</th>
              <th>Kind</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.name} data-testid="collection-row" data-collection={c.name}>
                <td className="mono">{c.name}</td>
                <td className="num">{integer(c.documents)}</td>
                <td className="num">{integer(c.deleted)}</td>
                <td>{c.table ? 'table' : 'documents'}</td>
              </tr>
            ))}
            {data && rows.length === 0 && <EmptyRow columns={4}>No collections yet.</EmptyRow>}
          </tbody>
        </table>
      </div>
    </section>
  );
}
