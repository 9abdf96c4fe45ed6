/** The category filter: '' shows every product. */
import type { Category } from './schemas';

interface Props {
  categories: Category[];
  value: string;
  onChange: (value: string) => void;
}

export function CategoryFilter({ categories, value, onChange }: Props) {
  return (
    <label className="field inline">
      <span>Category</span>
      <select data-testid="category-filter" value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">All categories</option>
        {categories.map((c) => (
          <option key={c.id} value={String(c.id)}>
            {c.name}
          </option>
        ))}
      </select>
    </label>
  );
}
