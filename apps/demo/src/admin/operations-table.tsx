import { useState } from 'react';
import type { OperationRow } from './api-types.js';
import { EmptyRow } from './empty-row.js';
import { clockTime } from './format.js';

/** Refusals stand out: rejected / rolled back in red, conflicts in amber. */
function tone(status: string): string {
  if (status === 'rejected' || status === 'rolledBack') return 'row-bad';
  if (status === 'conflict') return 'row-warn';
  if (status === 'duplicate') return 'row-muted';
  return '';
}

const OK = new Set(['applied', 'committed']);

export function OperationsTable({ operations }: { operations: readonly OperationRow[] | null }) {
  const [problemsOnly, setProblemsOnly] = useState(false);
  const all = operations ?? [];
  const rows = problemsOnly ? all.filter((op) => !OK.has(op.status)) : all;
  return (
    <section className="panel">
      <h2 className="with-tools">
        <span>
          Recent operations <span className="muted">{operations ? `newest first · ${rows.length} of the last ${all.length}` : ''}</span>
        </span>
        <label className="tool">
          <input
            type="checkbox"
            data-testid="operations-problems-only"
            checked={problemsOnly}
            onChange={(e) => setProblemsOnly(e.target.checked)}
          />{' '}
          only conflicts, refusals, duplicates
        </label>
      </h2>
      <div className="scroll tall">
        <table data-testid="operations-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Via</th>
              <th>Client</th>
              <th>Collection / id</th>
              <th>Type</th>
              <th>Status</th>
              <th>Error</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((op, i) => (
              <tr
                // Operation ids repeat (a duplicate replay) and some entries have none.
                // biome-ignore lint/suspicious/noArrayIndexKey: the ring is replaced wholesale on each poll
                key={`${op.time}-${op.id ?? ''}-${i}`}
                className={tone(op.status)}
                data-testid="operation-row"
                data-status={op.status}
                data-code={op.code ?? ''}
              >
                <td className="mono nowrap">{clockTime(op.time)}</td>
                <td>{op.via}</td>
                <td className="mono ellipsis" title={op.clientId ?? ''}>
                  {op.clientId ?? '–'}
                </td>
                <td className="mono ellipsis" title={`${op.collection ?? ''}/${op.docId ?? ''}`}>
                  {op.collection ?? '–'}
                  {op.docId ? <span className="muted">/{op.docId}</span> : null}
                </td>
                <td>{op.type}</td>
                <td>
                  <span className={`status status-${op.status}`}>{op.status}</span>
                  {op.position !== undefined && <span className="muted"> @{op.position}</span>}
                </td>
                <td className="ellipsis" title={op.message ?? ''}>
                  {op.code && <span className="code">{op.code}</span>} {op.message}
                </td>
              </tr>
            ))}
            {operations && rows.length === 0 && (
              <EmptyRow columns={7}>
                {all.length === 0 ? 'No operations since the server started.' : 'None among these: every one applied.'}
              </EmptyRow>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
