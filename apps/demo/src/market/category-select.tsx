/** A product's category in a form ('' = none). */
import type { Category } from './schemas';

interface Props {
  categories: Category[];
  value: string;
  onChange: (value: string) => void;
  testId: string;
  id?: string;
  label?: string;
}

export function CategorySelect({ categories, value, onChange, testId, id, label = 'Category' }: Props) {
  return (
    <select id={id} aria-label={label} data-testid={testId} value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">No category</option>
      {categories.map((c) => (
        <option key={c.id} value={String(c.id)}>
          {c.name}
        </option>
      ))}
    </select>
  );
}
