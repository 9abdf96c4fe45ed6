import type { BusInfo } from './api-types.js';
import { integer } from './format.js';

/** The bus between instances: state as a coloured badge, then kind, name and message counts (kind 'none': a single instance). */
export function BusBadge({ bus }: { bus: BusInfo | null | undefined }) {
  if (!bus || bus.kind === 'none') {
    return (
      <div className="bus" data-testid="bus-state" data-state="none">
        <span className="badge badge-none">no bus</span>
        <span className="muted">single instance</span>
      </div>
    );
  }
  const tone = bus.state === 'up' ? 'up' : bus.state === 'down' ? 'down' : bus.state === 'connecting' ? 'connecting' : 'none';
  return (
    <div className="bus" data-testid="bus-state" data-state={bus.state} data-kind={bus.kind}>
      <span className={`badge badge-${tone}`}>bus {bus.state}</span>
      <span>
        {bus.kind}
        {bus.name ? ` · ${bus.name}` : ''}
        {bus.shared ? ' · shared' : ''}
      </span>
      <span className="muted">
        published {integer(bus.published)} · received {integer(bus.received)} · dropped{' '}
        <span className={bus.dropped > 0 ? 'bad' : ''}>{integer(bus.dropped)}</span>
      </span>
    </div>
  );
}
