/** The offline switch: pauses the client (as if the network went away); remembered across reloads. */
interface Props {
  offline: boolean;
  onChange: (offline: boolean) => void;
}

export function OfflineToggle({ offline, onChange }: Props) {
  return (
    <label className="switch" title="Work offline: edits queue up in this tab and are sent when you switch back">
      <input
        type="checkbox"
        role="switch"
        aria-checked={offline}
        data-testid="offline-toggle"
        checked={offline}
        onChange={(e) => onChange(e.target.checked)}
      />
      <span>Offline</span>
    </label>
  );
}
